"""The questions every write policy answers, so that the writer, the verifier and the
report ask the policy of a table (`TableSpec.write_policy`) instead of comparing its name.

A policy is one class in its own module of this package, a subclass of WritePolicy with a
`name` (the string a model declares: `Transfer(policy="insert-only")`). Defining the class
registers it (`__init_subclass__`), and the package imports each of its modules, so a new
policy needs its module and the declaration of the models that use it, nothing else.
"""

from datatransfer.reports import Outcome

_REGISTERED: dict[str, "WritePolicy"] = {}


class WritePolicy:
    """Upsert's answers, the default; a policy overrides the ones it changes."""

    name: str = ""
    # How a row is matched: by its id (False), or by its content, every column but the id,
    # as a multiset (True: contents.py; the row then takes a new id in the target).
    matched_by_content: bool = False
    # Whether a row the target holds (matched by id) is updated when its values differ;
    # `existing_row` says what becomes of it otherwise.
    updates: bool = True
    # What verify compares for a row the target holds: its values (True), or only that it
    # is there (False: the target's version is the one that counts).
    verify_compares_values: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTERED[cls.name] = cls()

    def check(self, model, model_list) -> str | None:
        """Why `model` cannot have this policy (with `model_list`, the models travelling
        with it), or None. The registry raises ImproperlyConfigured with it."""
        return None

    def existing_row(self, table, current: dict, values: dict) -> tuple | None:
        """For a row the target holds (`current`, its model values; `values`, the file's):
        None to write it as upsert does, else (outcome, message) with nothing written:
        (UNCHANGED, None) left as it is, or (SKIPPED, why) a conflict."""
        return None if self.updates else (Outcome.UNCHANGED, None)

    def __repr__(self) -> str:
        return f"<write policy {self.name}>"


def registered() -> dict[str, WritePolicy]:
    return _REGISTERED
