"""Jute, ZooKeeper's binary record encoding, compiled to straight-line struct code.

Records are declared as annotated classes (see `records.py`); `@record` turns each into a slotted
dataclass and generates `serialize`/`deserialize` source for it once, at import. Runs of fixed-size
fields are packed with a single precompiled `struct.Struct`, so the hot records (headers, Stat,
getData) cost one or two C calls instead of a Python loop over field descriptors.

Every decoding failure raises `DecodeError` (and nothing else): lengths are checked against the bytes
actually present before anything is sliced, so a hostile length can never make us allocate.

Field annotations are the types the decoder produces, so a type checker holds users to what can
really come off the wire: jute writes a null buffer, string or vector as length -1, hence `Buffer`
is `bytes | None`, `UString` is `str | None` and a vector is declared `list[X] | None`. Nested
records and the fixed-size kinds are never null.
"""

from __future__ import annotations

import dataclasses
import struct
import types
from typing import (
    Annotated,
    Any,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

from .recordbase import ReadBuffer, Record

__all__ = [
    "Bool",
    "Buffer",
    "DecodeError",
    "Int",
    "Long",
    "ReadBuffer",
    "Record",
    "UString",
    "read_buffer",
    "read_ustring",
    "record",
    "write_buffer",
    "write_ustring",
]


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected record."""


# Field kinds. The annotation is what a type checker sees; the metadata is what the codec uses.
Int = Annotated[int, "int"]
Long = Annotated[int, "long"]
Bool = Annotated[bool, "boolean"]
Buffer = Annotated[bytes | None, "buffer"]
UString = Annotated[str | None, "ustring"]

_FIXED = {"int": ("i", 4), "long": ("q", 8), "boolean": ("?", 1)}

_I = struct.Struct(">i")
_pack_i = _I.pack
_unpack_i = _I.unpack_from


def write_buffer(out: bytearray, b: bytes | None) -> None:
    if b is None:
        out += b"\xff\xff\xff\xff"
    else:
        out += _pack_i(len(b))
        out += b


def write_ustring(out: bytearray, s: str | None) -> None:
    if s is None:
        out += b"\xff\xff\xff\xff"
    else:
        b = s.encode("utf-8", "surrogatepass")
        out += _pack_i(len(b))
        out += b


def read_buffer(buf: ReadBuffer, off: int) -> tuple[bytes | None, int]:
    if off + 4 > len(buf):
        raise DecodeError("truncated buffer length")
    (n,) = _unpack_i(buf, off)
    off += 4
    if n == -1:
        return None, off
    if n < 0 or off + n > len(buf):
        raise DecodeError(f"unreasonable buffer length {n}")
    return bytes(buf[off:off + n]), off + n


def read_ustring(buf: ReadBuffer, off: int) -> tuple[str | None, int]:
    if off + 4 > len(buf):
        raise DecodeError("truncated string length")
    (n,) = _unpack_i(buf, off)
    off += 4
    if n == -1:
        return None, off
    if n < 0 or off + n > len(buf):
        raise DecodeError(f"unreasonable string length {n}")
    # Java decodes with replacement characters; U+FFFD then fails path validation, as in ZooKeeper.
    return bytes(buf[off:off + n]).decode("utf-8", "replace"), off + n


def read_vector_len(buf: ReadBuffer, off: int) -> tuple[int, int]:
    if off + 4 > len(buf):
        raise DecodeError("truncated vector length")
    (n,) = _unpack_i(buf, off)
    if n < -1 or n > len(buf) - off:  # every element takes at least one byte
        raise DecodeError(f"unreasonable vector length {n}")
    return n, off + 4


R = TypeVar("R", bound="Record")


def _kind(tp: Any) -> tuple[str, Any]:
    """Map an annotation to (kind, element-type)."""
    if get_origin(tp) is Annotated:
        meta = tp.__metadata__[0]
        return meta, None
    if get_origin(tp) in (types.UnionType, Union):
        # `list[X] | None`: the honest spelling of a vector, which jute may encode as null.
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2 and get_origin(args[0]) is list:
            return "vector", get_args(args[0])[0]
    if get_origin(tp) is list:
        # Bare `list[X]` is still accepted (records declared outside this package use it), though it
        # hides from type checkers that the decoder yields None for a null vector.
        (elem,) = get_args(tp)
        return "vector", elem
    if isinstance(tp, type) and issubclass(tp, Record):
        return "record", tp
    raise TypeError(f"unsupported jute field type {tp!r}")


class _Codec:
    """The straight-line serialize/deserialize bodies of one record class, and the constants (struct
    layouts, record classes) they refer to by name. Shared by the two ways a codec is made: `@record`
    execs it at import (quorum messages, and the declarations in records_spec.py), and `module_source`
    writes it out as a module (records_gen.py: plain classes that mypyc compiles to native ones)."""

    def __init__(self, cls: type[Record], prefix: str, by_name: bool) -> None:
        # prefix: what the constants' names start with; by_name: refer to nested record classes by their
        # own names (a module defining them all) instead of through a constant
        self.cls = cls
        self.prefix = prefix
        self.by_name = by_name
        hints = get_type_hints(cls, include_extras=True, localns={cls.__name__: cls})
        self.fields = [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]
        self.consts: dict[str, Any] = {}
        self.ser: list[str] = []
        self.de: list[str] = []
        self._run: list[tuple[str, str, int]] = []
        self._runs = 0  # struct layouts made so far: F0, F1, ...
        for name, tp in self.fields:
            self._field(name, tp)
        self._flush()

    def _record_ref(self, sub: type[Record], tag: str) -> str:
        if self.by_name:
            return sub.__name__
        self.consts[f"{self.prefix}R_{tag}"] = sub
        return f"{self.prefix}R_{tag}"

    def _elem(self, elem: Any, tag: str) -> tuple[str, str]:
        """Expressions that write/read one vector element named `e`."""
        k, sub = _kind(elem)
        if k == "ustring":
            return f"write_ustring(out, e_{tag})", "read_ustring(buf, off)"
        if k == "buffer":
            return f"write_buffer(out, e_{tag})", "read_buffer(buf, off)"
        if k == "record":
            return f"e_{tag}.serialize(out)", f"{self._record_ref(sub, tag)}.deserialize(buf, off)"
        if k in _FIXED:
            code, size = _FIXED[k]
            st = f"{self.prefix}S_{tag}"
            self.consts[st] = struct.Struct(">" + code)
            return f"out += {st}.pack(e_{tag})", f"({st}.unpack_from(buf, off)[0], off + {size})"
        raise TypeError(f"unsupported vector element {elem!r}")

    def _flush(self) -> None:
        run = self._run
        if not run:
            return
        fmt = ">" + "".join(c for _, c, _ in run)
        size = sum(s for _, _, s in run)
        tag = f"{self.prefix}F{self._runs}"
        self._runs += 1
        self.consts[tag] = struct.Struct(fmt)
        names = [n for n, _, _ in run]
        self.ser.append(f"out += {tag}.pack({', '.join('self.' + n for n in names)})")
        self.de += [f"if off + {size} > len(buf):", f" raise DecodeError('truncated {self.cls.__name__}')",
                    f"({', '.join(names)},) = {tag}.unpack_from(buf, off)", f"off += {size}"]
        self._run = []

    def _field(self, name: str, tp: Any) -> None:
        k, sub = _kind(tp)
        if k in _FIXED:
            code, size = _FIXED[k]
            self._run.append((name, code, size))
            return
        self._flush()
        if k == "ustring":
            self.ser.append(f"write_ustring(out, self.{name})")
            self.de.append(f"{name}, off = read_ustring(buf, off)")
        elif k == "buffer":
            self.ser.append(f"write_buffer(out, self.{name})")
            self.de.append(f"{name}, off = read_buffer(buf, off)")
        elif k == "record":
            self.ser.append(f"self.{name}.serialize(out)")
            self.de.append(f"{name}, off = {self._record_ref(sub, name)}.deserialize(buf, off)")
        elif k == "vector":
            w, r = self._elem(sub, name)
            self.ser += [f"v_{name} = self.{name}", f"if v_{name} is None:", " out += b'\\xff\\xff\\xff\\xff'",
                         "else:", f" out += pack_i(len(v_{name}))", f" for e_{name} in v_{name}:", f"  {w}"]
            self.de += ["n, off = read_vector_len(buf, off)", "if n == -1:", f" {name} = None", "else:",
                        f" {name} = []", " for _ in range(n):", f"  e_{name}, off = {r}", f"  {name}.append(e_{name})"]

    def methods(self, indent: str, typed: bool) -> list[str]:
        """`serialize` and `deserialize` (the latter without its classmethod wrapper), each line
        prefixed with `indent`; `typed`: with annotations, for a module that is type-checked."""
        cls = self.cls.__name__
        fields = ", ".join(n for n, _ in self.fields)
        one = " " * 4 if typed else " "

        def body(lines: list[str], depth: int) -> list[str]:
            # the generated lines indent nested blocks by one space; a module uses four
            return [indent + one * depth + one * (len(x) - len(x.lstrip(" "))) + x.lstrip(" ") for x in lines]

        if typed:
            head_s = "def serialize(self, out: bytearray) -> None:"
            head_d = "def deserialize(cls, buf: ReadBuffer, off: int = 0) -> tuple[Self, int]:"
        else:
            head_s, head_d = "def serialize(self, out):", "def deserialize(cls, buf, off=0):"
        decls = [f"{n}: {_annotation_source(tp, _KIND_TYPES)}" for n, tp in self.fields
                 if typed and _kind(tp)[0] == "vector"]
        out = [indent + head_s, *body(self.ser or ["pass"], 1), "", indent + head_d, *body(decls, 1),
               indent + one + "try:",
               *body(self.de, 2), indent + one * 2 + f"return cls({fields}), off",
               indent + one + "except (struct.error, IndexError, OverflowError) as exc:",
               indent + one * 2 + f"raise DecodeError(f'bad {cls}: {{exc}}')"]
        return out


_KIND_TYPES = {"int": "int", "long": "int", "boolean": "bool", "buffer": "bytes | None", "ustring": "str | None"}
_KIND_NAMES = {"int": "Int", "long": "Long", "boolean": "Bool", "buffer": "Buffer", "ustring": "UString"}


def _annotation_source(tp: Any, kinds: dict[str, str]) -> str:
    """A field's annotation in source form, its jute kinds spelled as `kinds` says: `_KIND_TYPES` for the
    Python types they hold (signatures), `_KIND_NAMES` for the kinds by name (`FIELDS`)."""
    k, sub = _kind(tp)
    if k in kinds:
        return kinds[k]
    if k == "record":
        return str(sub.__name__)
    nullable = get_origin(tp) in (types.UnionType, Union)
    return f"list[{_annotation_source(sub, kinds)}]" + (" | None" if nullable else "")


def module_source(spec: types.ModuleType, docstring: str) -> str:
    """The source of a module defining every `@record` class of `spec` as a plain class with its codec
    written out: what scripts/gen_records.py writes to records_gen.py from records_spec.py.

    Why: a `@record` class is a dataclass whose `__init__` and codec are generated at import (exec'd
    source: ~45 ms of every start) and stay interpreted code, and compiled modules reach its fields
    through Python attribute lookups. Written out, the same classes are an ordinary module, which mypyc
    compiles to native classes: construction and field access from compiled code are C calls."""
    classes = [c for c in vars(spec).values()
               if isinstance(c, type) and issubclass(c, Record) and c.__module__ == spec.__name__]
    helpers = ["Bool", "Buffer", "DecodeError", "Int", "Long", "ReadBuffer", "Record", "UString", "read_buffer",
               "read_ustring", "read_vector_len", "write_buffer", "write_ustring"]
    out = [f'"""{docstring}"""', "",
           "# Generated by scripts/gen_records.py from records_spec.py: edit that file, then run",
           "# `.venv/bin/python scripts/gen_records.py` (tests/protocol/test_records_gen.py checks the two agree).",
           "", "from __future__ import annotations", "", "import struct",
           "from typing import Any, ClassVar, Final, Self",
           "", "from .jute import (", *(f"    {h}," for h in helpers), ")", "",
           'pack_i: Final = struct.Struct(">i").pack',
           "_ = (Bool, Buffer, Int, Long, UString)  # the kinds FIELDS names (some modules declare none of one)"]
    codecs = [_Codec(cls, f"_{cls.__name__.lstrip('_')}_", by_name=True) for cls in classes]
    for codec in codecs:
        for name, value in codec.consts.items():
            assert isinstance(value, struct.Struct)
            out.append(f"{name}: Final = struct.Struct({value.format!r})")
    for cls, codec in zip(classes, codecs, strict=True):
        dfields = {f.name: f for f in dataclasses.fields(cls)}
        name = cls.__name__
        doc = cls.__doc__ or ""
        out += ["", "", f"class {name}(Record):"]
        if doc and not doc.startswith(f"{name}("):  # dataclass writes a signature where a class has none
            out.append(f'    """{doc}"""')
            out.append("")
        names = [n for n, _ in codec.fields]
        out.append(f"    __slots__ = ({''.join(repr(n) + ', ' for n in sorted(names)).rstrip(' ')})")
        kinds = "".join(f"({n!r}, {_annotation_source(tp, _KIND_NAMES)}), " for n, tp in codec.fields).rstrip(" ")
        out.append(f"    FIELDS: ClassVar[tuple[tuple[str, Any], ...]] = ({kinds})")
        out.append("")
        params = []
        for n, tp in codec.fields:
            f = dfields[n]
            default = "" if f.default is dataclasses.MISSING else f" = {f.default!r}"
            params.append(f"{n}: {_annotation_source(tp, _KIND_TYPES)}{default}")
        out.append(f"    def __init__(self, {', '.join(params)}) -> None:" if params else
                   "    def __init__(self) -> None:")
        out += [f"        self.{n} = {n}" for n in names] or ["        pass"]
        out.append("")
        meth = codec.methods("    ", typed=True)
        split = meth.index("")
        out += [*meth[:split], "", "    @classmethod", *meth[split + 1:]]
        out += ["", "    def __eq__(self, other: object) -> bool:", f"        if not isinstance(other, {name}):",
                "            return NotImplemented"]
        if names:
            mine = ", ".join(f"self.{n}" for n in names)
            theirs = ", ".join(f"other.{n}" for n in names)
            out.append(f"        return ({mine},) == ({theirs},)")
        else:
            out.append("        return True")
        fields_repr = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
        out += ["", "    def __repr__(self) -> str:", f"        return f\"{name}({fields_repr})\""]
    return "\n".join(out) + "\n"


def _compile(cls: type[Record]) -> None:
    codec = _Codec(cls, "", by_name=False)
    cls.FIELDS = tuple(codec.fields)
    ns: dict[str, Any] = {
        "write_ustring": write_ustring, "write_buffer": write_buffer, "read_ustring": read_ustring,
        "read_buffer": read_buffer, "read_vector_len": read_vector_len, "DecodeError": DecodeError,
        "pack_i": _pack_i, "struct": struct, "cls": cls, **codec.consts,
    }
    src = "\n".join(codec.methods("", typed=False)) + "\n"
    exec(compile(src, f"<jute {cls.__name__}>", "exec"), ns)
    # The generated functions replace Record's placeholders and have exactly their signatures; mypy
    # rejects assigning to a method (and cannot see through the classmethod wrapper), hence the ignores.
    cls.serialize = ns["serialize"]  # type: ignore[method-assign]
    cls.deserialize = classmethod(ns["deserialize"])  # type: ignore[method-assign, assignment]
    cls._jute_source = src


@dataclass_transform()
def record(cls: type[R]) -> type[R]:
    """Make `cls` a slotted dataclass with a generated jute codec.

    Marked `dataclass_transform` so type checkers derive `__init__` (fields in declaration order,
    defaults honoured) and the field types from the annotations, exactly as `dataclass` does here.
    """
    dc = dataclasses.dataclass(slots=True)(cls)
    _compile(dc)
    return dc

