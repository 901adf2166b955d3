# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export BEACON_DATA_DIR ?= $(CURDIR)/var/demo

.PHONY: demo test lint bench-ingest bench-node bench-aggregator bench-attack tools clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/beacon demo

# bcftools computes the expected counts the ingest tests compare against.
tools:
	@command -v bcftools >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bcftools >/dev/null; \
		else echo "the tests need bcftools: sudo apt-get install bcftools"; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check beacon tests bench
	$(BIN)/ruff format --check beacon tests bench
	$(BIN)/mypy

test: $(STAMP) tools lint
	$(BIN)/pytest

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-node: $(STAMP)
	$(BIN)/python bench/node.py

bench-aggregator: $(STAMP)
	$(BIN)/python bench/aggregator.py

bench-attack: $(STAMP)
	$(BIN)/python bench/attack.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
