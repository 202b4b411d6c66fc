"""Build (or refresh) corral's compiled modules in place with mypyc: `make compile`.

Run by `make run` and `make test`. Without a C compiler or mypyc, or with CORRAL_COMPILE=0, corral
runs as pure Python and this says so; under CI (`CI=true`) that is an error, because CI tests the
compiled build. The list of modules and the staleness rule live in src/corral/_compiled.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
from corral import _compiled  # noqa: E402  (the checkout's copy, whatever is installed)

CI = os.environ.get("CI", "").lower() == "true"


def remove_compiled() -> int:
    gone = 0
    for m in _compiled.COMPILED:
        for f in _compiled.extensions_of(m, SRC):
            f.unlink()
            gone += 1
    for f in SRC.glob("*__mypyc*"):  # the build's shared library, named by mypyc
        f.unlink()
        gone += 1
    return gone


def compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc")


def pure(reason: str) -> int:
    removed = remove_compiled()
    print(f"corral runs as pure Python: {reason}" + (f" (removed {removed} compiled files)" if removed else ""))
    if CI:
        print("CI=true: the compiled build is required here", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    if os.environ.get("CORRAL_COMPILE") == "0":
        return pure("CORRAL_COMPILE=0")
    if compiler() is None:
        return pure("no C compiler found")
    if importlib.util.find_spec("mypyc") is None:
        return pure("mypyc is not installed (it comes with mypy: pip install mypy)")
    present = all(_compiled.extensions_of(m, SRC) for m in _compiled.COMPILED)
    if present and not _compiled.stale(src=SRC):
        print(f"compiled build up to date ({len(_compiled.COMPILED)} modules)")
        return 0
    remove_compiled()
    files = [str(_compiled.source_of(m, SRC).relative_to(ROOT)) for m in _compiled.COMPILED]
    log_path = ROOT / "build" / "mypyc.log"
    log_path.parent.mkdir(exist_ok=True)
    print(f"compiling {len(files)} modules with mypyc (about a minute on two cores; "
          f"log: {log_path.relative_to(ROOT)}) ...", flush=True)
    t0 = time.monotonic()
    with log_path.open("w") as log:
        # mypyc's setuptools build, one C file per module compiled in parallel (scripts/mypyc_build.py)
        rc = subprocess.run([sys.executable, str(ROOT / "scripts" / "mypyc_build.py"), "build_ext", "--inplace",
                             "--", *files], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    built = [f for m in _compiled.COMPILED for f in _compiled.extensions_of(m, SRC)]
    if rc == 0 and len(built) >= len(_compiled.COMPILED):
        # setuptools copies out of build/ keeping the times of files it did not need to relink, which
        # can predate a source edit: these files are this build's output, from the sources as they are.
        for f in built:
            os.utime(f)
    if rc != 0 or _compiled.stale(src=SRC) or not all(_compiled.extensions_of(m, SRC) for m in _compiled.COMPILED):
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print("mypyc failed:\n  " + "\n  ".join(tail), file=sys.stderr)
        return pure("the compiled build failed (see above)")
    print(f"compiled {len(files)} modules in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
