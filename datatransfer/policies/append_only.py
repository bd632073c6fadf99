"""append-only: a row is matched by its content (every column but the id), as a multiset
(contents.py); the k-th file row of a content is the target's when it holds k of them or
more, else it is appended under a new id from the target's sequence. An event log."""

from django.db.models.fields import AutoFieldMixin

from datatransfer.declarations import Transfer
from datatransfer.policies.base import WritePolicy


class AppendOnly(WritePolicy):
    name = "append-only"
    matched_by_content = True
    updates = False

    def check(self, model, model_list) -> str | None:
        """The rows take new ids in the target: the key must be auto-incrementing, and
        nothing may point at a row by its id."""
        if problem := _problem(model, model_list):
            return f"{problem}, but its rows take new ids in the target"
        return None


def _problem(model, model_list) -> str | None:
    meta = model._meta
    if not isinstance(meta.pk, AutoFieldMixin):
        return "its primary key is not an auto-incrementing integer"
    if meta.local_many_to_many:
        return "it has a many-to-many field"
    declared = getattr(model, "transfer", None)
    if isinstance(declared, Transfer) and declared.natural_key:
        return "it declares a natural_key (its rows are matched by content)"
    linking = [
        other._meta.label
        for other in model_list
        for field in (*other._meta.concrete_fields, *other._meta.local_many_to_many)
        if field.is_relation and field.related_model is model
    ]
    return f"{', '.join(sorted(set(linking)))} link(s) to it" if linking else None
