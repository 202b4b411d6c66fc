"""The README's samples, run as a new user would run them on a fresh clone.

Why: the README's `corral …` and `python examples/…` lines once failed on a fresh clone (the venv was
never mentioned) and its Python sample failed on a fresh server (the `/app` chroot did not exist). A
sample that is run by the test suite cannot rot like that.

**Convention.** A fenced block that directly follows the line `<!-- test: run -->` (an HTML comment,
invisible when rendered) is run by `test_readme_samples_run_on_a_fresh_clone`; every other block is
illustration (a server that runs until stopped, an ensemble, file names that depend on the data):

* a ```` ```python ```` block is saved to a file in the checkout and run with `.venv/bin/python FILE`;
* a ```` ```sh ```` block is run line by line, each line one command of `bash -c` in the checkout's root
  (blank and comment-only lines are skipped; a trailing `# comment` is bash's business). Each must exit 0.

**Where.** In a copy of the files git tracks (`git ls-files`, with their working-tree content) in a
temporary directory: what a fresh clone of the next commit holds, so a file that exists only in this
working tree (`data/`, `site/`, a file never `git add`-ed) cannot make a sample pass, while an edit to
the README not yet committed is what gets tested. `.venv` in the copy is a symlink to the venv running
this test (the one `make venv` built), its `bin` leads PATH as after `. .venv/bin/activate`, and
PYTHONPATH is the copy's `src/`, so the copy's code is what runs.

**Server.** The test starts `corral server` from that venv on a free port of 127.0.0.1 with the dataDir
`data/` in the copy (where `make run` puts it), so the samples meet a fresh server. The one substitution:
every `127.0.0.1:2181` in a tested block becomes that server's address. Samples keep the default
address a user types, and the test does not depend on port 2181 being free. Blocks run in README order
against the one server: later blocks see what earlier ones wrote (`corral log verify` finds a log).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import CorralProcess

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MARK = "<!-- test: run -->"
DEFAULT_ADDRESS = "127.0.0.1:2181"
COMMAND_TIMEOUT = 60.0  # seconds per command; the NFV demo, the longest, takes about 10 s


@dataclass
class Block:
    lang: str
    text: str
    line: int  # 1-based line of the opening fence in README.md
    tested: bool


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of the README, with whether the line before its fence is the run mark."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        tested = start > 0 and lines[start - 1].strip() == MARK
        blocks.append(Block(m.group(1), "\n".join(lines[start + 1:end]) + "\n", start + 1, tested))
        i = end + 1
    return blocks


def commands(block: Block) -> list[str]:
    """The commands of a shell block: its lines, without blank and comment-only ones."""
    return [ln.strip() for ln in block.text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


# ---- what the README must be (fast: text only) ---------------------------------------------------------------


def test_tested_blocks_are_python_or_shell() -> None:
    blocks = readme_blocks(README.read_text())
    tested = [b for b in blocks if b.tested]
    assert {b.lang for b in tested} == {"python", "sh"}, [(b.line, b.lang) for b in tested]
    marks = [ln for ln in README.read_text().splitlines() if ln.strip() == MARK]
    assert len(marks) == len(tested), f"a {MARK} line not directly followed by a fenced block"


def test_the_venv_is_explained_before_any_corral_or_python_command() -> None:
    text = README.read_text()
    activate = text.index(". .venv/bin/activate")
    for b in readme_blocks(text):
        if b.lang != "sh":
            continue
        for cmd in commands(b):
            if re.match(r"(corral|python)\b", cmd):
                offset = text.index(cmd)
                assert offset > activate, f"README line {b.line}: `{cmd}` comes before the venv is explained"


def test_every_examples_command_is_a_tested_one() -> None:
    for b in readme_blocks(README.read_text()):
        for cmd in commands(b) if b.lang == "sh" else []:
            if "examples/" in cmd:
                assert b.tested, f"README line {b.line}: `{cmd}` is not in a `{MARK}` block"


# ---- run them (slow: a copy of the checkout, a server, programs) ---------------------------------------------


def _checkout_copy(dest: Path) -> None:
    """The files git tracks, as they are in the working tree (what a clone of the next commit holds)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True,
                             timeout=30).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not a git checkout ({e}): nothing to copy")
    for name in out.decode().split("\0"):
        src = REPO / name
        if name and src.is_file():  # a tracked file deleted in the working tree is not in the next commit
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


class CheckoutCorral(CorralProcess):
    """`corral server zoo.cfg` from the copy's venv, with the copy's `data/` as dataDir."""

    def __init__(self, data_dir: Path, checkout: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir, extra_cfg={"dataDir": str(checkout / "data")})
        self.checkout = checkout
        self._env = env

    def command(self) -> list[str]:
        return [str(self.checkout / ".venv" / "bin" / "corral"), "server", str(self.cfg_path)]

    def env(self) -> dict[str, str]:
        return {**self._env, "PYTHONUNBUFFERED": "1"}


def _run(argv: list[str], cwd: Path, env: dict[str, str], what: str, srv: CorralProcess) -> str:
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{what}: no exit within {COMMAND_TIMEOUT} s\n{e.stdout!r}\n{e.stderr!r}") from None
    assert p.returncode == 0, (f"{what} failed with exit status {p.returncode}\n--- stdout\n{p.stdout}\n"
                               f"--- stderr\n{p.stderr}\n--- server log\n{srv.log(4000)}")
    return p.stdout


@pytest.mark.slow
def test_readme_samples_run_on_a_fresh_clone(tmp_path: Path) -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("run under the project's venv (make venv): the samples use .venv/bin")
    venv = Path(sys.prefix)
    checkout = tmp_path / "corral"
    checkout.mkdir()
    _checkout_copy(checkout)
    (checkout / ".venv").symlink_to(venv, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(checkout / ".venv"), PYTHONPATH=str(checkout / "src"))

    srv = CheckoutCorral(tmp_path / "server", checkout, env)
    srv.start()
    try:
        where = _run([str(checkout / ".venv" / "bin" / "python"), "-c", "import corral; print(corral.__file__)"],
                     checkout, env, "locating corral", srv).strip()
        assert Path(where).is_relative_to(checkout / "src"), f"corral imported from {where}, not the copy"
        ran = 0
        for i, block in enumerate(b for b in readme_blocks(README.read_text()) if b.tested):
            text = block.text.replace(DEFAULT_ADDRESS, srv.hosts)
            if block.lang == "python":
                sample = checkout / f"readme_sample_{i}.py"
                sample.write_text(text)
                _run([".venv/bin/python", sample.name], checkout, env, f"README line {block.line} (python)", srv)
                ran += 1
            else:
                for cmd in commands(Block(block.lang, text, block.line, True)):
                    _run(["bash", "-c", cmd], checkout, env, f"README line {block.line}: `{cmd}`", srv)
                    ran += 1
        assert ran >= 5, f"only {ran} README samples ran"
    finally:
        srv.close()
