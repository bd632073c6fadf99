# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
DEMO_FILE := exports/demo.json
# The demo only ever touches its own SQLite files, whatever .env names: the project's own
# database, a platform database filled with demo data, and a second one to load it into.
DEMO_DATABASES := demo-project.sqlite3 demo-platform.sqlite3 demo-target.sqlite3
DEMO_ENV := ENV_FILE=/dev/null \
	PROJECT_DATABASE_URL=sqlite:///$(CURDIR)/demo-project.sqlite3 \
	DATABASE_URL=sqlite:///$(CURDIR)/demo-platform.sqlite3 \
	DATABASE_URL_TARGET=sqlite:///$(CURDIR)/demo-target.sqlite3

.PHONY: install demo test test-fast check-schema test-sqlite test-postgres bench bench-floors lint messages clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# Dependency groups (PEP 735) need pip 25.1 or newer.
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e . --group dev
	touch $@

demo: install
	rm -f $(DEMO_DATABASES)
	$(DEMO_ENV) $(PY) manage.py migrate --verbosity 0
	$(DEMO_ENV) $(PY) manage.py migrate --database platform --verbosity 0
	$(DEMO_ENV) $(PY) manage.py migrate --database target --verbosity 0
	$(DEMO_ENV) $(PY) manage.py seeddemo --scale 1
	$(DEMO_ENV) $(PY) manage.py dumpdomain $(DEMO_FILE)
	$(DEMO_ENV) $(PY) manage.py loaddomain $(DEMO_FILE) --database target --dry-run
	$(DEMO_ENV) $(PY) manage.py loaddomain $(DEMO_FILE) --database target --no-input
	$(DEMO_ENV) $(PY) manage.py verifydomain $(DEMO_FILE) --database target
	@echo ""
	@echo "The admin on the demo's databases: a superuser, the server, and in a second terminal the"
	@echo "worker, which runs the exports and imports the admin queues (without it they stay queued):"
	@echo "  $(DEMO_ENV) $(PY) manage.py createsuperuser"
	@echo "  $(DEMO_ENV) $(PY) manage.py runserver"
	@echo "  $(DEMO_ENV) $(PY) manage.py db_worker"

test: check-schema test-sqlite test-postgres

# The unit layer alone (no database, no process: tests/conftest.py, LAYERS), in seconds.
test-fast: install
	env -u DATABASE_URL -u PROJECT_DATABASE_URL $(PY) -m pytest -q -m unit

# The models (core/models.py) are what `inspectprisma` makes of the vendored schema, nothing else.
check-schema: install
	@echo "== The models against core/prisma/schema.prisma =="
	ENV_FILE=/dev/null env -u DATABASE_URL -u PROJECT_DATABASE_URL $(PY) manage.py inspectprisma --check

# Two workers (pytest-xdist; each has its own test databases and temporary folders); the
# test databases are made once per worker and copied, not migrated, per test. PYTEST_ARGS
# adds options (PYTEST_WORKERS=0: no worker process).
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=10 $(PYTEST_ARGS)

# The whole suite: every layer, the tests with a database on SQLite.
test-sqlite: install
	@echo "== Test suite on SQLite (all of it) =="
	env -u DATABASE_URL -u PROJECT_DATABASE_URL $(PYTEST)

# Only what depends on the database (marker `database`, tests/conftest.py): the rest ran in
# the SQLite pass and would do the very same thing again. Skipped loudly when PostgreSQL is
# unreachable, except under CI=true where that fails.
test-postgres: install
	@if $(PY) -m tests.postgres_reachable "$(TEST_DATABASE_URL)"; then \
		echo "== Test suite on PostgreSQL (the tests marked database) =="; \
		env -u PROJECT_DATABASE_URL DATABASE_URL="$(TEST_DATABASE_URL)" $(PYTEST) -m database; \
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

# Only loaddomain against the floors of issue 25 (checked bulk insert, server comparison,
# parse, start-up), with its phases: make bench-floors SCALE="100 400". `make bench` runs them too.
bench-floors: install
	$(PY) -m pip install --quiet -e . --group dev --group bench
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) bench/run.py --scales $(SCALE) --floors-only $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# The French catalogues: extract the strings, then (once translated) compile them. Needs GNU
# gettext (apt-get install gettext); the compiled .mo files are committed, so nothing else does.
messages: install
	for app in core datatransfer; do \
		(cd $$app && ENV_FILE=/dev/null ../$(PY) ../manage.py makemessages -l fr --no-location \
			&& ENV_FILE=/dev/null ../$(PY) ../manage.py compilemessages -l fr) || exit 1; \
	done

clean:
	rm -rf $(VENV) $(DEMO_DATABASES)
