"""The in-place int readers (protocol/inline.py) read exactly what struct's big-endian formats read, at
every offset, for every value: the request, txn and leaf-record readers rely on them."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from corral.protocol.inline import i32_at, i64_at

EDGES_32 = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x12345678, -0x12345678, 255, 256, -256]
EDGES_64 = [0, 1, -1, (1 << 63) - 1, -(1 << 63), 1 << 62, -(1 << 62), 0x8000000000000000 - 1, 1 << 32,
            -(1 << 32), 0x100000001, 0x7FFFFFFF80000000]


def test_edge_values() -> None:
    for v in EDGES_32:
        buf = b"\xaa" + struct.pack(">i", v)
        assert i32_at(buf, 1) == v
    for v in EDGES_64:
        buf = b"\x55\x55" + struct.pack(">q", v)
        assert i64_at(buf, 2) == v


@given(st.binary(min_size=8, max_size=64), st.data())
def test_same_as_struct_at_any_offset(buf: bytes, data: st.DataObject) -> None:
    off = data.draw(st.integers(0, len(buf) - 8))
    assert i32_at(buf, off) == struct.unpack_from(">i", buf, off)[0]
    assert i64_at(buf, off) == struct.unpack_from(">q", buf, off)[0]
