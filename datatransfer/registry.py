"""What travels: one TableSpec per domain model, derived from its metadata.

A table's file key is the model name in camelCase plural (`DemandePartage` ->
`demandePartages`); a field's is its column (`passwordHash`, the foreign key
`targetOrgId`): the models sit on Prisma's tables, whose columns are the names the file
uses. A many-to-many to a model with a natural key travels as the list of those keys
(`permissionKeys`); its link table (Prisma's `_PermissionToUser`: two foreign keys and
nothing else) is not a table of the file.
Models may declare `secret_fields` (emptied by `--exclude-secrets`),
`natural_key_fields` (what identifies a row whatever its id, for `--match natural`) and
`transfer_policy`, how an import may write their rows:

- `"upsert"` (the default): `update_or_create` by primary key.
- `"append-only"`: a row of the target is never changed. A file row is judged by its
  content (every column but the id): when the target holds the same content it is
  unchanged, otherwise it is inserted under a new id from the target's own sequence
  (an event log, whose integer ids mean nothing across databases). The model needs an
  auto-incrementing key, and no model may link to it (its ids change on the way).
- `"immutable"`: a row is inserted when its id is new; an existing row is never changed,
  and a file row that differs from it is a conflict. The model has no many-to-many.
"""

from dataclasses import dataclass
from functools import cache, cached_property

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models.fields import AutoFieldMixin

from datatransfer.graph import dependency_order

DEFAULT_APPS = ("core",)
UPSERT, APPEND_ONLY, IMMUTABLE = "upsert", "append-only", "immutable"
POLICIES = (UPSERT, APPEND_ONLY, IMMUTABLE)


def camel_case(name: str) -> str:
    """`password_hash` -> `passwordHash`, `a_document` -> `aDocument`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


@cache
def table_key(model) -> str:
    """The file key of a model's table: `AuditLog` -> `auditLogs`,
    `SiteSettings` -> `siteSettings`."""
    name = lower_first(model.__name__)
    return name if name.endswith("s") else name + "s"


@dataclass(frozen=True)
class FieldSpec:
    """A concrete column and its name in the file."""

    key: str
    field: models.Field

    @property
    def attname(self) -> str:
        return self.field.attname


@dataclass(frozen=True)
class ManyToManySpec:
    """A many-to-many field, in the file as the list of the related rows' natural keys
    (`permissionKeys`), or of their ids when the related model has no natural key."""

    key: str
    field: models.ManyToManyField
    natural_field: str | None

    @property
    def related_model(self):
        return self.field.related_model


@dataclass(frozen=True)
class TableSpec:
    """One table of the export: its model, its fields, and the links written last."""

    key: str
    model: type[models.Model]
    fields: tuple[FieldSpec, ...]
    many_to_many: tuple[ManyToManySpec, ...]
    deferred: tuple[FieldSpec, ...]
    dependencies: tuple[str, ...]
    secret_fields: tuple[str, ...]
    natural_key: tuple[FieldSpec, ...] = ()
    policy: str = UPSERT

    @cached_property
    def pk(self) -> FieldSpec:
        return next(spec for spec in self.fields if spec.field.primary_key)

    @property
    def append_only(self) -> bool:
        return self.policy == APPEND_ONLY

    @property
    def immutable(self) -> bool:
        return self.policy == IMMUTABLE

    @cached_property
    def content(self) -> tuple[FieldSpec, ...]:
        """The fields that make a row's content: all but the primary key."""
        return tuple(spec for spec in self.fields if not spec.field.primary_key)

    @property
    def label(self) -> str:
        return self.model._meta.label

    @cached_property
    def secret_keys(self) -> frozenset[str]:
        """The file keys of the secret fields, whose values are never printed nor reported."""
        return frozenset(spec.key for spec in self.fields if spec.field.name in self.secret_fields)

    def field_keys(self) -> set[str]:
        return {spec.key for spec in self.fields} | {spec.key for spec in self.many_to_many}

    def ordering(self) -> tuple[str, ...]:
        """Rows by creation time, then primary key (the old tool's order, made total)."""
        names = {f.name for f in self.model._meta.concrete_fields}
        return ("created_at", "pk") if "created_at" in names else ("pk",)


def _natural_field(model) -> str | None:
    """The single unique non-key field a model's `natural_key()` returns, if any."""
    if not hasattr(model, "natural_key"):
        return None
    unique = [f.name for f in model._meta.concrete_fields if f.unique and not f.primary_key]
    return unique[0] if len(unique) == 1 else None


def _unique_sets(meta) -> list[set[str]]:
    sets = [{f.name} for f in meta.concrete_fields if f.unique]
    sets += [set(group) for group in meta.unique_together]
    sets += [
        set(c.fields)
        for c in meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields and c.condition is None
    ]
    return sets


def natural_key_names(model) -> tuple[str, ...]:
    """The model's `natural_key_fields`, checked: concrete fields that together are unique.
    Raises ImproperlyConfigured otherwise (a key matching several rows would be a guess)."""
    names = tuple(getattr(model, "natural_key_fields", ()))
    meta = model._meta
    for name in names:
        try:
            field = meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or not field.concrete or field.many_to_many:
            raise ImproperlyConfigured(
                f"{meta.label}.natural_key_fields: '{name}' is not a column of the model."
            )
    if names and set(names) not in _unique_sets(meta):
        raise ImproperlyConfigured(
            f"{meta.label}.natural_key_fields {names} is not a unique key of the model "
            "(add a UniqueConstraint)."
        )
    return names


def transfer_policy(model, model_list=()) -> str:
    """The model's `transfer_policy` (default "upsert"), checked against `model_list`, the
    models travelling with it. Raises ImproperlyConfigured for an unknown policy, an
    immutable model with a many-to-many, or an append-only model whose rows cannot take
    new ids: a key that is not auto-incrementing, a many-to-many, a natural key, or a
    model of `model_list` linking to it."""
    policy = getattr(model, "transfer_policy", UPSERT)
    label = model._meta.label
    if policy not in POLICIES:
        raise ImproperlyConfigured(
            f"{label}.transfer_policy '{policy}' is not one of {', '.join(POLICIES)}."
        )
    meta = model._meta
    if policy == IMMUTABLE and meta.local_many_to_many:
        raise ImproperlyConfigured(
            f"{label}.transfer_policy 'immutable': its many-to-many links would change "
            "with the file's; an immutable model cannot have any."
        )
    if policy != APPEND_ONLY:
        return policy
    if not isinstance(meta.pk, AutoFieldMixin):
        problem = "its primary key is not an auto-incrementing integer"
    elif meta.local_many_to_many:
        problem = "it has a many-to-many field"
    elif getattr(model, "natural_key_fields", ()):
        problem = "it declares natural_key_fields (its rows are matched by content)"
    else:
        linking = [
            other._meta.label
            for other in model_list
            for field in (*other._meta.concrete_fields, *other._meta.local_many_to_many)
            if field.is_relation and field.related_model is model
        ]
        problem = f"{', '.join(sorted(set(linking)))} link(s) to it" if linking else ""
    if problem:
        raise ImproperlyConfigured(
            f"{label}.transfer_policy 'append-only': {problem}, but its rows take new ids "
            "in the target."
        )
    return policy


def _field_spec(field) -> FieldSpec:
    return FieldSpec(key=field.column, field=field)


def is_link_table(model) -> bool:
    """Whether `model` only links two rows (an implicit many-to-many's table: two foreign
    keys, nothing else), so that it travels inside its owner's rows."""
    fields = model._meta.concrete_fields
    return len(fields) == 2 and all(f.many_to_one for f in fields)


def travelling_through(field):
    """The link table of the many-to-many `field` when its links travel inside the owner's
    rows, or None when the through model has data of its own (a table of the file)."""
    through = field.remote_field.through
    return through if through._meta.auto_created or is_link_table(through) else None


def _many_to_many_spec(field) -> ManyToManySpec | None:
    if travelling_through(field) is None:
        return None
    natural = _natural_field(field.related_model)
    singular = lower_first(field.related_model.__name__)
    return ManyToManySpec(
        key=f"{singular}Keys" if natural else f"{singular}Ids", field=field, natural_field=natural
    )


def domain_models(app_labels=None) -> list[type[models.Model]]:
    """The models that travel: every concrete model of the domain apps
    (`settings.DATATRANSFER_APPS`, default `core`), in definition order."""
    labels = app_labels or getattr(settings, "DATATRANSFER_APPS", DEFAULT_APPS)
    return [
        model
        for label in labels
        for model in apps.get_app_config(label).get_models()
        if not model._meta.proxy and not model._meta.abstract and not is_link_table(model)
    ]


def build_tables(model_list) -> tuple[TableSpec, ...]:
    """Return the TableSpecs of `model_list` in dependency order."""
    model_list = list(model_list)
    specs = []
    for node in dependency_order(model_list):
        meta = node.model._meta
        deferred_names = {f.name for f in node.deferred}
        fields = tuple(_field_spec(f) for f in meta.concrete_fields)
        by_name = {spec.field.name: spec for spec in fields}
        m2m = tuple(s for s in (_many_to_many_spec(f) for f in meta.local_many_to_many) if s)
        specs.append(
            TableSpec(
                key=table_key(node.model),
                model=node.model,
                fields=fields,
                many_to_many=m2m,
                deferred=tuple(s for s in fields if s.field.name in deferred_names),
                dependencies=tuple(table_key(m) for m in node.dependencies),
                secret_fields=tuple(getattr(node.model, "secret_fields", ())),
                natural_key=tuple(by_name[name] for name in natural_key_names(node.model)),
                policy=transfer_policy(node.model, model_list),
            )
        )
    return tuple(specs)


@cache
def domain_tables() -> tuple[TableSpec, ...]:
    """The domain's TableSpecs in dependency order (computed once per process)."""
    return build_tables(domain_models())


def tables_by_key() -> dict[str, TableSpec]:
    return {spec.key: spec for spec in domain_tables()}
