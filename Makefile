# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SITE   ?= site
# mkdocs-material prints a banner about MkDocs 2.0 on every build; it is not about this site.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: run test test-fast test-pure test-deps lint typecheck docs screenshots venv compile clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# The hot modules compiled with mypyc next to their sources (src/corral/_compiled.py lists them); without a
# C compiler corral runs as pure Python. CORRAL_COMPILE=0 removes the compiled files.
compile: $(STAMP)
	@$(PY) scripts/compile.py

run: $(STAMP) compile
	@echo "corral: clients on 127.0.0.1:2181, AdminServer on http://127.0.0.1:8080/commands, web console on http://127.0.0.1:8080/console/ (admin.serverPort)"
	$(VENV)/bin/corral server

test-deps: $(STAMP)
	@PY=$(PY) bash scripts/install-test-deps.sh

# pytest includes tests/packaging (sdist + wheel built, the wheel installed into a fresh venv and serving)
# and tests/docs (the README's marked samples run on a copy of the checkout); both are `slow`.
# The whole suite runs on the compiled build; the pure cores' tests run once more on the pure-Python
# fallback (CORRAL_PURE=1), so both builds pass the same tests. The pure cores' tests (`not slow`: no
# processes, sockets or timing) run on both cores with pytest-xdist; the `slow` ones, which start
# servers and time faults, run one at a time in their own pytest (in one pytest process with them, the
# simulation's seed chunks took 27-36 s each against 9 s on their own). The slowest 15 are listed at the
# end, for keeping CI under its limit.
test: $(STAMP) test-deps compile
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy
	$(MKDOCS) build --strict --quiet --site-dir $(SITE)
	$(PY) -m pytest -q -m "not slow" -n 2
	$(PY) -m pytest -q -m slow --durations=15
	CORRAL_PURE=1 CORRAL_SIM_SEEDS=100 $(PY) -m pytest -q -m "not slow" -n 2

test-pure: $(STAMP)
	CORRAL_PURE=1 $(PY) -m pytest -q

# The pure cores only (protocol, tree, txn, quorum, simulation, unit tests): no server processes, Java,
# shells or real sockets (those tests are marked `slow`, see tests/conftest.py). Under a minute.
test-fast: $(STAMP)
	CORRAL_SIM_SEEDS=100 $(PY) -m pytest -q -m "not slow" -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts

# Settings (strict, which files) live in pyproject.toml's [tool.mypy].
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml, docs/) into $(SITE)/ (git-ignored): warnings are errors, as in make test.
docs: $(STAMP)
	$(MKDOCS) build --strict --site-dir $(SITE)
	@echo "open $(SITE)/index.html"

# The web console's screenshots in docs/images (docs/operations.md), taken by its headless-Chromium tests.
screenshots: $(STAMP) test-deps
	CORRAL_SCREENSHOT_DIR=docs/images $(PY) -m pytest -q tests/console/test_browser.py tests/console/test_ensemble_view.py

clean:
	rm -rf $(VENV) build dist site *.egg-info src/*.egg-info
	find src -name '*.so' -delete
