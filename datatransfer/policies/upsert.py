"""upsert, the default: a row is matched by id; one the target lacks is created, one it
holds is updated when its values (or its many-to-many links) differ, else unchanged."""

from datatransfer.policies.base import WritePolicy


class Upsert(WritePolicy):
    name = "upsert"
