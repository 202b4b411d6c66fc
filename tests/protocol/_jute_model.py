"""An independent model of jute records for the protocol tests.

It reads only each record's declared field list (`FIELDS`) and encodes values with plain `struct`
calls, so a test can compare corral's generated codec against a second, deliberately naive encoder
instead of only checking that the codec agrees with itself. It also provides representative and
random (hypothesis) instances for every record class, found by walking `Record`'s subclasses, so a
record added to `records_spec.py` is covered without editing the tests.
"""

from __future__ import annotations

import struct
import types
from typing import Annotated, Any, get_args, get_origin

from hypothesis import strategies as st

from corral.protocol import records_gen
from corral.protocol.jute import Record

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def all_record_classes() -> list[type[Record]]:
    """Every record class corral runs: those generated from records_spec.py (private ones included)."""
    seen: list[type[Record]] = []
    stack = list(Record.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # records_spec's @record classes (dataclasses, when the generator or a test imported it) and their
        # pre-slots originals are Record subclasses too: keep only the classes records_gen binds.
        if cls.__module__ == records_gen.__name__ and getattr(records_gen, cls.__name__, None) is cls \
                and cls not in seen:
            seen.append(cls)
    return sorted(seen, key=lambda c: c.__name__)


def kind(tp: Any) -> tuple[str, Any]:
    """(kind, element/record type) of one declared field annotation."""
    if get_origin(tp) is Annotated:
        return tp.__metadata__[0], None
    if get_origin(tp) is types.UnionType and type(None) in get_args(tp):  # `list[X] | None`: a vector
        (tp,) = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) is list:
        return "vector", get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, Record):
        return "record", tp
    raise TypeError(f"unexpected field type {tp!r}")


def fields(cls: type[Record]) -> list[tuple[str, str, Any]]:
    return [(name, *kind(tp)) for name, tp in cls.FIELDS]


# ---- independent encoder -----------------------------------------------------------------------

def encode_value(k: str, sub: Any, v: Any) -> bytes:
    if k == "int":
        return struct.pack(">i", v)
    if k == "long":
        return struct.pack(">q", v)
    if k == "boolean":
        return b"\x01" if v else b"\x00"
    if k == "buffer":
        return b"\xff\xff\xff\xff" if v is None else struct.pack(">i", len(v)) + v
    if k == "ustring":
        if v is None:
            return b"\xff\xff\xff\xff"
        raw = v.encode("utf-8")
        return struct.pack(">i", len(raw)) + raw
    if k == "record":
        return encode_record(v)
    if k == "vector":
        if v is None:
            return b"\xff\xff\xff\xff"
        ek, esub = kind(sub)
        return struct.pack(">i", len(v)) + b"".join(encode_value(ek, esub, e) for e in v)
    raise TypeError(k)


def encode_record(rec: Record) -> bytes:
    return b"".join(encode_value(k, sub, getattr(rec, name)) for name, k, sub in fields(type(rec)))


def encode_prefix(rec: Record, upto: int) -> bytes:
    """The encoding of the first `upto` fields of `rec` (where field `upto` would start)."""
    return b"".join(encode_value(k, sub, getattr(rec, name)) for name, k, sub in fields(type(rec))[:upto])


# ---- representative values ---------------------------------------------------------------------

SAMPLES: dict[str, list[Any]] = {
    "int": [0, 1, -1, INT_MAX, INT_MIN, 30000],
    "long": [0, -1, LONG_MAX, LONG_MIN, 0x10007AB7C550006, 1],
    "boolean": [False, True],
    "buffer": [None, b"", b"\x00\xff", bytes(range(256)), b"data"],
    "ustring": [None, "", "/a", "caf\u00e9/\u65e5\u672c/\U0001f600", "\x00", "/zookeeper/config"],
}


def sample_value(k: str, sub: Any, i: int, depth: int = 0) -> Any:
    if k in SAMPLES:
        vals = SAMPLES[k]
        return vals[i % len(vals)]
    if k == "record":
        return sample_record(sub, i + 1, depth + 1)
    if k == "vector":
        choice = i % 3
        if choice == 0:
            return None
        if choice == 1:
            return []
        ek, esub = kind(sub)
        return [sample_value(ek, esub, i + j, depth + 1) for j in range(3)]
    raise TypeError(k)


def sample_record(cls: type[Record], i: int = 0, depth: int = 0) -> Record:
    """A deterministic instance; different `i` rotate every field through its sample values."""
    return cls(*[sample_value(k, sub, i + n, depth) for n, (_, k, sub) in enumerate(fields(cls))])


def sample_records(cls: type[Record], count: int = 7) -> list[Record]:
    return [sample_record(cls, i) for i in range(count)]


# ---- hypothesis strategies ---------------------------------------------------------------------

# Any Unicode scalar value except lone surrogates (those are not UTF-8 and cannot come off the wire).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def value_strategy(k: str, sub: Any) -> st.SearchStrategy[Any]:
    if k == "int":
        return st.integers(INT_MIN, INT_MAX)
    if k == "long":
        return st.integers(LONG_MIN, LONG_MAX)
    if k == "boolean":
        return st.booleans()
    if k == "buffer":
        return st.none() | st.binary(max_size=24)
    if k == "ustring":
        return st.none() | TEXT
    if k == "record":
        return record_strategy(sub)
    if k == "vector":
        ek, esub = kind(sub)
        return st.none() | st.lists(value_strategy(ek, esub), max_size=3)
    raise TypeError(k)


def record_strategy(cls: type[Record]) -> st.SearchStrategy[Record]:
    return st.builds(cls, *[value_strategy(k, sub) for _, k, sub in fields(cls)])


def any_record() -> st.SearchStrategy[Record]:
    return st.sampled_from(all_record_classes()).flatmap(record_strategy)
