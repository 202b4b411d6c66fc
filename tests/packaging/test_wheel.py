"""The packages a user installs: sdist and wheel built from this tree, the wheel installed into a fresh venv.

Why: the editable install every other test uses reads `src/` directly, so a file missing from the wheel
(py.typed, a subpackage), a console script that does not resolve, or metadata that setuptools rejects
would only show after release. This builds both (`python -m build --no-isolation`: the sdist, then the
wheel *from the sdist*, so a file the sdist lacks breaks the wheel too), checks what they hold, installs
the wheel into a new venv (no access to `src/`), starts that venv's `corral server` on a free port of
127.0.0.1 with a temporary dataDir and does a create/get round trip with kazoo from the test venv.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.server import CorralProcess

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]


@dataclass
class Dist:
    sdist: Path
    wheel: Path


def _run(argv: list[str], timeout: float = 120, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert p.returncode == 0, f"{argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def _clean_env() -> dict[str, str]:
    """The environment without anything that would let a fresh venv see this checkout or the test venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the backend (setuptools>=77, in the test extra) comes from this venv, nothing is downloaded.
    p = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], cwd=REPO)
    assert "BuildBackendWarning" not in p.stdout + p.stderr, p.stdout + p.stderr
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(out.iterdir())
    return Dist(sdists[0], wheels[0])


def test_sdist_holds_sources_license_readme_and_marker(dist: Dist) -> None:
    root = f"{NAME}-{VERSION}"
    with tarfile.open(dist.sdist) as tf:
        names = set(tf.getnames())
    for f in ("LICENSE", "README.md", "pyproject.toml", "PKG-INFO", "src/corral/py.typed",
              "src/corral/__init__.py", "src/corral/cli/main.py", "src/corral/client/__init__.py"):
        assert f"{root}/{f}" in names, f"{f} missing from the sdist"
    in_tree = {p.relative_to(REPO).as_posix() for p in (REPO / "src" / "corral").rglob("*.py")}
    missing = sorted(f for f in in_tree if f"{root}/{f}" not in names)
    assert not missing, f"sources missing from the sdist: {missing}"


def test_wheel_holds_package_typing_marker_license_and_metadata(dist: Dist) -> None:
    info = f"{NAME}-{VERSION}.dist-info"
    with zipfile.ZipFile(dist.wheel) as zf:
        names = set(zf.namelist())
        meta = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert {"corral/py.typed", "corral/client/__init__.py", f"{info}/licenses/LICENSE"} <= names
    # The web console's page is package data: without it the console answers 404.
    assert {"corral/console/static/index.html", "corral/console/static/console.js",
            "corral/console/static/console.css"} <= names
    assert not any(n.startswith(("tests/", "bench/", "examples/")) for n in names), "test or bench code in the wheel"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    assert set(meta.get_all("Classifier") or []) == set(PROJECT["classifiers"])
    assert "Typing :: Typed" in PROJECT["classifiers"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert urls == PROJECT["urls"]
    assert "corral = corral.cli.main:main" in entry_points


def test_project_urls_are_the_repository_plus_paths_that_exist() -> None:
    """No public home yet: every URL is `Repository` + a path of this repository (one string to replace)."""
    urls = dict(PROJECT["urls"])
    repo = urls.pop("Repository")
    for label, url in urls.items():
        assert url == repo or url.startswith(repo + "/"), f"{label} = {url} is not under Repository = {repo}"
        rest = url[len(repo):].lstrip("/")
        for prefix in ("blob/main/", "tree/main/"):
            if rest.startswith(prefix):
                path = REPO / rest[len(prefix):]
                assert path.exists(), f"{label} points at {path.relative_to(REPO)}, which does not exist"


@pytest.fixture(scope="module")
def fresh_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=_clean_env())
    # This venv's pip installs into the new one (pip --python): the wheel plus its runtime dependencies
    # (uvloop, click, prompt-toolkit, aiohttp, cramjam, ...), which pip takes from its cache when it has them.
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
          "--disable-pip-version-check", str(dist.wheel)], timeout=300, env=_clean_env())
    return venv


class WheelCorral(CorralProcess):
    """`corral server zoo.cfg` run by the console script of a venv that has only the wheel."""

    def __init__(self, venv: Path) -> None:
        super().__init__()
        self.venv = venv

    def command(self) -> list[str]:
        return [str(self.venv / "bin" / "corral"), "server", str(self.cfg_path)]

    def env(self) -> dict[str, str]:
        return {**_clean_env(), "PYTHONUNBUFFERED": "1"}


def test_installed_wheel_serves_a_kazoo_round_trip(fresh_venv: Path, tmp_path: Path) -> None:
    py = str(fresh_venv / "bin" / "python")
    where = _run([py, "-c", "import corral, corral.client, corral.console; print(corral.__file__)"], cwd=tmp_path,
                 env=_clean_env()).stdout.strip()
    assert Path(where).is_relative_to(fresh_venv), f"corral imported from {where}, not from the fresh venv"
    version = _run([str(fresh_venv / "bin" / "corral"), "--version"], env=_clean_env()).stdout
    assert VERSION in version, version

    srv = WheelCorral(fresh_venv).start()
    try:
        zk = KazooClient(hosts=srv.hosts, timeout=10)
        zk.start(timeout=15)
        try:
            assert zk.create("/from-wheel", b"hello", makepath=True) == "/from-wheel"
            data, stat = zk.get("/from-wheel")
            assert (data, stat.version) == (b"hello", 0)
        finally:
            zk.stop()
            zk.close()
        assert "zk_znode_count" in srv.four_letter("mntr")
    finally:
        srv.close()
