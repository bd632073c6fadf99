# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
DEMO_TARGET_DB := demo-target.sqlite3
DEMO_FILE := exports/demo.json

.PHONY: install demo test test-sqlite test-postgres bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# Dependency groups (PEP 735) need pip 25.1 or newer.
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e . --group dev
	touch $@

demo: install
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py seeddemo --scale 1 --force
	$(PY) manage.py dumpdomain $(DEMO_FILE)
	rm -f $(DEMO_TARGET_DB)
	DATABASE_URL_TARGET=sqlite:///$(CURDIR)/$(DEMO_TARGET_DB) $(PY) manage.py migrate --database target --verbosity 0
	DATABASE_URL_TARGET=sqlite:///$(CURDIR)/$(DEMO_TARGET_DB) $(PY) manage.py loaddomain $(DEMO_FILE) --database target --dry-run
	DATABASE_URL_TARGET=sqlite:///$(CURDIR)/$(DEMO_TARGET_DB) $(PY) manage.py loaddomain $(DEMO_FILE) --database target
	DATABASE_URL_TARGET=sqlite:///$(CURDIR)/$(DEMO_TARGET_DB) $(PY) manage.py verifydomain $(DEMO_FILE) --database target

test: test-sqlite test-postgres

test-sqlite: install
	@echo "== Test suite on SQLite =="
	env -u DATABASE_URL $(PY) -m pytest

# Skipped loudly when PostgreSQL is unreachable, except under CI=true where that fails.
test-postgres: install
	@if $(PY) -m tests.postgres_reachable "$(TEST_DATABASE_URL)"; then \
		echo "== Test suite on PostgreSQL =="; \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest; \
	elif [ "$$CI" = "true" ]; then \
		echo "ERROR: PostgreSQL is unreachable and CI=true: the PostgreSQL run cannot be skipped." >&2; exit 1; \
	else \
		echo ""; echo "!!!!!!!! PostgreSQL unreachable: the PostgreSQL test run was SKIPPED !!!!!!!!" >&2; echo ""; \
	fi

# The benchmark of docs/benchmarks.md (never part of `make test`): scratch databases bench_mk_*
# on the local PostgreSQL. Several scales: make bench SCALE="100 400".
SCALE ?= 100
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

bench: install
	$(PY) -m pip install --quiet -e . --group dev --group bench
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) bench/run.py --scales $(SCALE) $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) db.sqlite3 $(DEMO_TARGET_DB)
