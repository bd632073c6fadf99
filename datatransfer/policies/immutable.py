"""immutable: a row whose id is new is created, one the target holds is never changed; a
file row that differs from it is a conflict (skipped) naming the fields."""

from datatransfer.policies.base import WritePolicy
from datatransfer.reports import Outcome


class Immutable(WritePolicy):
    name = "immutable"
    updates = False

    def check(self, model, model_list) -> str | None:
        if model._meta.local_many_to_many:
            return (
                "its many-to-many links would change with the file's; an immutable model "
                "cannot have any"
            )
        return None

    def existing_row(self, table, current, values):
        changed = table.changed_values(current, values)
        if not changed:
            return Outcome.UNCHANGED, None
        keys = [spec.key for spec in table.fields if spec.attname in changed]
        verb = "differs" if len(keys) == 1 else "differ"
        return Outcome.SKIPPED, (
            f"the target holds another version of this row ({', '.join(keys)} {verb}) and "
            f"{table.key} rows are immutable: it was left as it is"
        )
