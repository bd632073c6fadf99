"""Real Prisma (CLI and Client, under Node.js) in the loop, on PostgreSQL databases it made.

These checks make their own databases on TEST_DATABASE_URL's server, whatever the suite's
database is, so they run once: in the suite's PostgreSQL pass (`make test-postgres`), not in
its SQLite pass.
"""

import os

import pytest

# Both modules install the Prisma CLI into tests/e2e/interop/node_modules on first use: in one
# worker of `make test` (pytest-xdist, --dist loadgroup), one after the other.
one_worker = pytest.mark.xdist_group("interop")
only_in_the_postgresql_pass = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="real Prisma runs in the PostgreSQL pass of the suite (DATABASE_URL on PostgreSQL)",
)
