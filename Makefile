# Two commands for a fresh machine: `make demo` and `make test`. Both set up first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup sandbox-tools test-tools test demo bench bench-cluster clean-venv

setup: $(STAMP) sandbox-tools

# pip (not uv/poetry): only pip finds the CPU torch 2.13.0 wheel this machine keeps on disk.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# bubblewrap is the grading sandbox; install it when missing and we may (root).
sandbox-tools:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bubblewrap (bwrap) is missing; install it, or grade with --no-sandbox" >&2; fi; }

# What the tests drive for real: Debian's chromium (the students' page, formgrader's rendering) and a private
# PostgreSQL server (the gradebook on PostgreSQL). Installed when missing and we may (root); the tests that need
# them say so when they cannot run.
test-tools:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  { command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing for some tests:$$missing (apt-get install$$missing)" >&2; fi; fi

test: setup test-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

demo: setup
	$(VENV)/bin/dlgrade demo

bench: setup
	$(PY) bench/run.py

# The Dask cluster against the local pool (bench/README.md, "Grading on a Dask cluster").
bench-cluster: setup
	$(PY) bench/cluster.py

clean-venv:
	rm -rf $(VENV)
