"""The compiled build: which modules mypyc turns into C extensions, and when corral runs them.

The hot pure modules (tree, preparer, quorum core, the client connection and its handlers) are plain,
strictly typed Python; `make compile` (scripts/compile.py, run by `make run` and `make test` when a
C compiler is present) builds them with mypyc next to their sources, the way black and mypy ship.
The pure-Python sources stay the fallback and the reference: the same tests pass on both.

Python's import system prefers an extension module to a source file of the same name, so a compiled
module that is older than its source would silently run old code. mypyc also links the modules of one
build into a single library whose functions call each other directly, so they cannot be mixed with
pure-Python copies of each other. Hence all or nothing: `use_pure()` makes every module of the build
load from its source, and `corral/__init__.py` calls it when `CORRAL_PURE=1` or when any compiled
module is stale.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: Modules of the compiled build (dotted names under `corral`). Not here: modules declaring jute records
#: (`@record` reads field annotations at import, which compiled classes do not keep) and thin adapters.
COMPILED: tuple[str, ...] = (
    "corral.persistence.snapemit",
    "corral.persistence.snapnodes",
    "corral.persistence.txnlog",
    "corral.protocol.inline",
    "corral.protocol.paths",
    "corral.protocol.recordbase",
    "corral.protocol.records_gen",
    "corral.quorum.log",
    "corral.quorum.peer",
    "corral.quorum.ready",
    "corral.server.connection",
    "corral.server.frontend",
    "corral.server.host",
    "corral.server.measures",
    "corral.server.reads",
    "corral.server.replies",
    "corral.server.sessions",
    "corral.server.writes",
    "corral.tree.acl",
    "corral.tree.datatree",
    "corral.tree.digest",
    "corral.tree.digestlog",
    "corral.tree.watches",
    "corral.txn.codec",
    "corral.txn.prepare",
)

SRC = Path(__file__).resolve().parent.parent  # the directory holding the `corral` package
EXT_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def source_of(module: str, src: Path = SRC) -> Path:
    return src.joinpath(*module.split(".")).with_suffix(".py")


def extensions_of(module: str, src: Path = SRC) -> list[Path]:
    """The compiled files built for `module` (normally one, named for this interpreter)."""
    base = src.joinpath(*module.split("."))
    return [p for p in base.parent.glob(base.name + ".*") if p.name.endswith(EXT_SUFFIXES)]


def stale(modules: Sequence[str] = COMPILED, src: Path = SRC) -> list[str]:
    """Modules whose compiled file is missing or older than any source of the build (one library: a
    change to one module's source can change how the others call it)."""
    built = {m: extensions_of(m, src) for m in modules}
    if not any(built.values()):
        return []  # a pure install: nothing compiled, nothing stale
    newest_source = max(source_of(m, src).stat().st_mtime for m in modules)
    return [m for m, files in built.items() if not files or min(f.stat().st_mtime for f in files) < newest_source]


def loaded_compiled() -> list[str]:
    """Modules of the build that this process runs compiled."""
    out = []
    for m in COMPILED:
        mod = sys.modules.get(m)
        if mod is not None and (mod.__file__ or "").endswith(EXT_SUFFIXES):
            out.append(m)
    return out


class _SourceFirst:
    """Loads the build's modules from their `.py` files even where a compiled file sits beside them.

    A meta path finder by its `find_spec` alone (as the import system asks of one): subclassing
    `importlib.abc.MetaPathFinder` would import `importlib.abc`, and with it `importlib.resources`,
    about 15 ms of every `corral` command's start-up."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED or not path:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for entry in path:
            candidate = Path(entry) / leaf
            if candidate.is_file():
                return importlib.util.spec_from_file_location(fullname, candidate)
        return None


def use_pure() -> None:
    if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())
