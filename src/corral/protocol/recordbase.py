"""`Record`, the base of every jute record, in a module of its own so that the compiled build can
make it a native class.

The records of records_gen.py are native classes when compiled; a native class whose base is an
ordinary Python class is a mixed layout (mypyc's `inherits_python`) that crashed the garbage
collector under hypothesis-built instances here, so the base is compiled too. The `@record`
dataclasses (quorum messages, records_spec.py) stay interpreted subclasses of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self, TypeAlias

from mypy_extensions import mypyc_attr

ReadBuffer: TypeAlias = bytes | bytearray | memoryview
"""What the decoders read from: a whole frame, or a memoryview slice of a connection's buffer."""


@mypyc_attr(allow_interpreted_subclasses=True)
class Record:
    """Base of every jute record; `@record` fills in the codec, records_gen.py writes it out."""

    __slots__ = ()
    #: (name, annotation) of every field in wire order, the annotations as declared (Annotated kept).
    FIELDS: ClassVar[tuple[tuple[str, Any], ...]] = ()
    #: The codec source `@record` generated, for reading and debugging (exec'd records only).
    _jute_source: ClassVar[str]
    #: Set by `@record` on the records it makes (dataclasses); declared so that `dataclasses` helpers
    #: (`fields`, `replace`, `asdict`) accept those.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def serialize(self, out: bytearray) -> None:  # pragma: no cover - replaced by every record
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
