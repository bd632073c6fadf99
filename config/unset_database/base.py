"""The database backend of the platform's alias when DATABASE_URL is not set.

Falling back to a SQLite file would create an empty database in the project on first use,
and the commands would then blame its missing tables. With this backend, every use of the
alias (a query, a connection, a migration, a shell) raises ImproperlyConfigured with one
sentence saying what to set; the commands refuse before that (datatransfer/databases.py),
and `manage.py` prints it in one line with exit status 2.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.dummy import base as dummy

NOT_CONFIGURED = (
    "The platform's database is not configured: set DATABASE_URL (in the environment or "
    "in the env file)."
)


def refuse(*args, **kwargs):
    raise ImproperlyConfigured(NOT_CONFIGURED)


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = refuse


class DatabaseClient(dummy.DatabaseClient):
    runshell = refuse


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = refuse
    get_table_description = refuse
    get_relations = refuse
    get_indexes = refuse


class DatabaseWrapper(dummy.DatabaseWrapper):
    vendor = "unset"
    display_name = "not configured"
    _cursor = refuse
    ensure_connection = refuse
    _commit = refuse
    _savepoint_commit = refuse
    _set_autocommit = refuse
    client_class = DatabaseClient
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
