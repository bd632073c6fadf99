"""The one place where the database decides how the Writer writes: a backend per vendor
(Django's `connection.vendor`), the portable one for every other."""

from datatransfer.writer.portable import PortableBackend
from datatransfer.writer.postgres import PostgresBackend

BACKENDS = {"postgresql": PostgresBackend}


def backend_for(vendor: str) -> type[PortableBackend]:
    """The backend class for a database of `vendor`."""
    return BACKENDS.get(vendor, PortableBackend)
