"""Every row of every domain table, as plain values, to compare databases field by field."""

from datatransfer.registry import domain_models


def database_snapshot(using: str) -> dict:
    """{model label: {pk: {field: value}}} for every domain model, many-to-many included."""
    snapshot = {}
    for model in domain_models():
        rows = {
            row["pk"]: row
            for row in model._base_manager.using(using).values(
                "pk", *(f.attname for f in model._meta.concrete_fields)
            )
        }
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            own, other = field.m2m_field_name(), field.m2m_reverse_field_name()
            for owner, target in through._base_manager.using(using).values_list(
                f"{own}_id", f"{other}_id"
            ):
                rows[owner].setdefault(field.name, set()).add(target)
        snapshot[model._meta.label] = rows
    return snapshot
