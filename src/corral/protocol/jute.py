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
    ClassVar,
    Self,
    TypeAlias,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

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

ReadBuffer: TypeAlias = bytes | bytearray | memoryview
"""What the decoders read from: a whole frame, or a memoryview slice of a connection's buffer."""

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


class Record:
    """Base of every jute record; `@record` fills in the codec."""

    __slots__ = ()
    #: (name, annotation) of every field in wire order, the annotations as declared (Annotated kept).
    FIELDS: ClassVar[tuple[tuple[str, Any], ...]] = ()
    #: The generated codec's source, for reading and debugging.
    _jute_source: ClassVar[str]
    #: Set by `@record` on every concrete record (all are dataclasses); declared so that `dataclasses`
    #: helpers (`fields`, `replace`, `asdict`) accept records.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def serialize(self, out: bytearray) -> None:  # pragma: no cover - replaced by @record
        raise NotImplementedError

    @classmethod
    def deserialize(cls, buf: ReadBuffer, off: int = 0) -> tuple[Self, int]:  # pragma: no cover
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        out = bytearray()
        self.serialize(out)
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: ReadBuffer) -> Self:
        """Decode one record; trailing bytes are allowed, as ZooKeeper's readers allow them."""
        return cls.deserialize(data, 0)[0]


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


def _elem_codec(elem: Any, ns: dict[str, Any], tag: str) -> tuple[str, str]:
    """Expressions that write/read one vector element named `e`."""
    k, sub = _kind(elem)
    if k == "ustring":
        return "write_ustring(out, e)", "read_ustring(buf, off)"
    if k == "buffer":
        return "write_buffer(out, e)", "read_buffer(buf, off)"
    if k == "record":
        ns[f"R_{tag}"] = sub
        return "e.serialize(out)", f"R_{tag}.deserialize(buf, off)"
    if k in _FIXED:
        code, size = _FIXED[k]
        ns[f"S_{tag}"] = struct.Struct(">" + code)
        return f"out += S_{tag}.pack(e)", f"(S_{tag}.unpack_from(buf, off)[0], off + {size})"
    raise TypeError(f"unsupported vector element {elem!r}")


def _compile(cls: type[Record]) -> None:
    hints = get_type_hints(cls, include_extras=True, localns={cls.__name__: cls})
    fields = [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]
    cls.FIELDS = tuple(fields)
    ns: dict[str, Any] = {
        "write_ustring": write_ustring, "write_buffer": write_buffer, "read_ustring": read_ustring,
        "read_buffer": read_buffer, "read_vector_len": read_vector_len, "DecodeError": DecodeError,
        "pack_i": _pack_i, "struct": struct, "cls": cls,
    }
    ser = ["def serialize(self, out):"]
    de = ["def deserialize(cls, buf, off=0):", " try:"]
    run: list[tuple[str, str, int]] = []
    nrun = 0

    def flush() -> None:
        nonlocal run, nrun
        if not run:
            return
        fmt = ">" + "".join(c for _, c, _ in run)
        size = sum(s for _, _, s in run)
        tag = f"F{nrun}"
        nrun += 1
        ns[tag] = struct.Struct(fmt)
        names = [n for n, _, _ in run]
        ser.append(f" out += {tag}.pack({', '.join('self.' + n for n in names)})")
        de.append(f"  if off + {size} > len(buf): raise DecodeError('truncated {cls.__name__}')")
        de.append(f"  ({', '.join(names)},) = {tag}.unpack_from(buf, off); off += {size}")
        run = []

    for name, tp in fields:
        k, sub = _kind(tp)
        if k in _FIXED:
            code, size = _FIXED[k]
            run.append((name, code, size))
            continue
        flush()
        if k == "ustring":
            ser.append(f" write_ustring(out, self.{name})")
            de.append(f"  {name}, off = read_ustring(buf, off)")
        elif k == "buffer":
            ser.append(f" write_buffer(out, self.{name})")
            de.append(f"  {name}, off = read_buffer(buf, off)")
        elif k == "record":
            ns[f"R_{name}"] = sub
            ser.append(f" self.{name}.serialize(out)")
            de.append(f"  {name}, off = R_{name}.deserialize(buf, off)")
        elif k == "vector":
            w, r = _elem_codec(sub, ns, name)
            ser += [f" v = self.{name}", " if v is None: out += b'\\xff\\xff\\xff\\xff'", " else:",
                    "  out += pack_i(len(v))", "  for e in v:", f"   {w}"]
            de += ["  n, off = read_vector_len(buf, off)", "  if n == -1:", f"   {name} = None", "  else:",
                   f"   {name} = []", "   for _ in range(n):", f"    e, off = {r}", f"    {name}.append(e)"]
    flush()
    if len(ser) == 1:
        ser.append(" pass")
    de.append(f"  return cls({', '.join(n for n, _ in fields)}), off")
    de.append(" except (struct.error, IndexError, OverflowError) as exc:")
    de.append(f"  raise DecodeError('bad {cls.__name__}: %s' % exc)")
    src = "\n".join(ser) + "\n\n" + "\n".join(de) + "\n"
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

