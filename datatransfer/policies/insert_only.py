"""insert-only, "insert only, never update": a row whose id is new is created, and a row
the target holds is left as it is, `unchanged` whether or not the file's version differs.
The target's version is the one that counts (a setting production edited since: its
`Configuration` value), so a difference is no conflict and no exit status; verify checks
that the row is there, not its values. Unlike immutable, where a difference is a conflict.
"""

from datatransfer.policies.base import WritePolicy


class InsertOnly(WritePolicy):
    name = "insert-only"
    updates = False  # a row the target holds: unchanged (WritePolicy.existing_row)
    verify_compares_values = False

    def check(self, model, model_list) -> str | None:
        if model._meta.local_many_to_many:
            return (
                "its many-to-many links would change with the file's; an insert-only model "
                "cannot have any"
            )
        return None
