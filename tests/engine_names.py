"""The loaddomain engines a test can run on this run's database: the postgres engine needs
PostgreSQL (the run's DATABASE_URL), the others run anywhere."""

import os

from datatransfer.engines import ENGINES, VENDOR_ENGINES

_ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

ENGINE_NAMES = sorted(
    name
    for name in ENGINES
    if name not in VENDOR_ENGINES or (_ON_POSTGRESQL and VENDOR_ENGINES[name] == "postgresql")
)
