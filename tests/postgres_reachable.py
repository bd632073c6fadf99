"""Exit 0 when the PostgreSQL server of the URL given as argument accepts a connection.

Used by `make test` to decide whether the PostgreSQL run can happen. The database the URL
names need not exist: the suite runs in its own `test_<name>` database, which it creates
from the server's maintenance database `postgres`, as this check connects.
"""

import sys

import psycopg

from config.database_urls import database_from_url, redacted_url


def main(url: str) -> int:
    config = database_from_url(url)
    try:
        psycopg.connect(
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.Error as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        print(f"PostgreSQL at {redacted_url(url)} is unreachable: {first_line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
