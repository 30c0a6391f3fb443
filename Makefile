# atlas_nb — two commands: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint unit lab clean browser-deps redis-deps bench

# binder/requirements.txt's pins are constraints here: the dev venv tests what Binder installs.
$(STAMP): pyproject.toml binder/requirements.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e '.[dev]' -c binder/requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m atlas_nb.demo

lint: $(STAMP)
	$(BIN)/ruff check atlas_nb tests benchmarks tools
	$(BIN)/ruff format --check atlas_nb tests benchmarks tools
	$(BIN)/mypy atlas_nb

# Debian's Chromium for the browser test (installed once, as root, when missing).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || ( \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null )

# Debian's redis-server for the Redis store tests (they start their own; no system service).
redis-deps:
	@command -v redis-server >/dev/null 2>&1 || ( \
	  echo "installing Debian's redis-server for the Redis store tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null )

test: $(STAMP) lint browser-deps redis-deps
	$(BIN)/python -m pytest -p no:cacheprovider --doctest-modules atlas_nb tests \
	  notebooks --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
	  $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lab: $(STAMP)
	$(BIN)/python -m atlas_nb.cli lab

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
