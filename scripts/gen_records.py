"""Write src/corral/protocol/records_gen.py from the declarations in records_spec.py.

    .venv/bin/python scripts/gen_records.py            # rewrite it
    .venv/bin/python scripts/gen_records.py --check    # exit 1 if it is out of date

Run after changing records_spec.py; tests/protocol/test_records_gen.py fails while the two disagree.
Why the records are written out at all is in `corral.protocol.jute.module_source`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from corral.protocol import records_spec  # noqa: E402  (the checkout's copy, whatever is installed)
from corral.protocol.jute import module_source  # noqa: E402

TARGET = ROOT / "src" / "corral" / "protocol" / "records_gen.py"
DOCSTRING = ("The jute records of records_spec.py as plain classes with their codecs written out (compiled,\n"
             "native classes). Import them from `corral.protocol.records`.\n")


def source() -> str:
    return module_source(records_spec, DOCSTRING)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only say whether records_gen.py is up to date")
    args = ap.parse_args()
    text = source()
    current = TARGET.read_text() if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET} is out of date: run scripts/gen_records.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text)
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
