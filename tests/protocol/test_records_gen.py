"""records_gen.py is what scripts/gen_records.py writes from records_spec.py, and says the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from corral.protocol import records_gen, records_spec
from corral.protocol.jute import Record

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_records", ROOT / "scripts" / "gen_records.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_module_is_up_to_date():
    """Edit records_spec.py, then run scripts/gen_records.py: a hand edit or a forgotten run fails here."""
    gen = _generator()
    assert (ROOT / "src" / "corral" / "protocol" / "records_gen.py").read_text() == gen.source()


def test_every_declared_record_is_generated_with_its_fields():
    declared = {n: c for n, c in vars(records_spec).items()
                if isinstance(c, type) and issubclass(c, Record) and c.__module__ == records_spec.__name__}
    assert len(declared) >= 60
    for name, cls in declared.items():
        made = getattr(records_gen, name)
        assert made is not cls
        assert [n for n, _ in made.FIELDS] == [n for n, _ in cls.FIELDS], name
        # nested records are the generated module's own classes
        assert [repr(t) for _, t in made.FIELDS] == \
            [repr(t).replace("records_spec.", "records_gen.") for _, t in cls.FIELDS], name


def test_generated_and_declared_codecs_agree():
    """The same field values encode to the same bytes through the generated class and through the
    declaration's exec'd codec (both come from one generator, so this guards the writing-out)."""
    from ._jute_model import sample_records

    for name in ("CreateRequest", "SetDataTxn", "MultiTxn", "Stat", "ConnectRequest", "SetWatches2", "TxnHeader",
                 "QuorumPacket", "CreateTTLTxn", "GetChildren2Response"):
        made = getattr(records_gen, name)
        declared = getattr(records_spec, name)
        for rec in sample_records(made):
            data = rec.to_bytes()
            # rebuild the value as the declared class; nested records re-encode to the same bytes either way
            twin = declared(*(getattr(rec, n) for n, _ in made.FIELDS))
            assert twin.to_bytes() == data, name
            back, end = made.deserialize(data)
            assert back == rec and end == len(data), name
