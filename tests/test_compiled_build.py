"""The compiled build (mypyc, src/corral/_compiled.py): all or nothing, never stale, and CI runs it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from corral import _compiled

SUFFIX = _compiled.EXT_SUFFIXES[0]


def _fake_tree(tmp_path: Path, modules: tuple[str, ...]) -> Path:
    for m in modules:
        src = _compiled.source_of(m, tmp_path)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text("x = 1\n")
    return tmp_path


def test_nothing_compiled_is_not_stale(tmp_path: Path) -> None:
    mods = ("pkg.a", "pkg.b")
    assert _compiled.stale(mods, _fake_tree(tmp_path, mods)) == []


def test_a_source_newer_than_the_build_makes_every_module_stale(tmp_path: Path) -> None:
    mods = ("pkg.a", "pkg.b")
    root = _fake_tree(tmp_path, mods)
    for m in mods:
        ext = _compiled.source_of(m, root).with_suffix(SUFFIX)
        ext.write_bytes(b"")
        os.utime(ext, (2_000_000_000, 2_000_000_000))
    assert _compiled.stale(mods, root) == []
    os.utime(_compiled.source_of("pkg.b", root), (2_000_000_100, 2_000_000_100))
    assert _compiled.stale(mods, root) == ["pkg.a", "pkg.b"]  # one library: all of it is out of date


def test_a_missing_module_of_a_build_is_stale(tmp_path: Path) -> None:
    mods = ("pkg.a", "pkg.b")
    root = _fake_tree(tmp_path, mods)
    _compiled.source_of("pkg.a", root).with_suffix(SUFFIX).write_bytes(b"")
    assert _compiled.stale(mods, root) == ["pkg.b"]


def test_corral_pure_loads_every_module_from_source() -> None:
    code = ("import importlib, corral, corral._compiled as c\n"
            "files = [importlib.import_module(m).__file__ for m in c.COMPILED]\n"
            "assert all(f.endswith('.py') for f in files), files\n"
            "assert c.loaded_compiled() == []\n"
            "print(corral.BUILD_NOTE)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CORRAL_PURE": "1"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "CORRAL_PURE=1" in out.stdout


def test_this_process_runs_one_build_whole() -> None:
    """Compiled and pure modules of the build never mix; under CI (which runs `make compile`) the
    suite runs on the compiled build unless CORRAL_PURE=1 asks for the fallback."""
    for m in _compiled.COMPILED:
        importlib.import_module(m)
    compiled = _compiled.loaded_compiled()
    assert compiled in ([], list(_compiled.COMPILED)), compiled
    if os.environ.get("CI", "").lower() == "true":
        want_pure = os.environ.get("CORRAL_PURE") == "1"
        assert (compiled == []) == want_pure, f"CI: compiled={compiled} CORRAL_PURE={os.environ.get('CORRAL_PURE')}"
