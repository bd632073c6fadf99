"""What travels: one TableSpec per domain model, derived from its metadata and from its
transfer declaration (`transfer = Transfer(...)`, datatransfer/declarations.py), which
this module alone reads and checks: every other module asks the TableSpecs.

A table's file key is declared or made from the model name (`DemandePartage` ->
`demandePartages`); a field's is its column (`passwordHash`, the foreign key
`targetOrgId`): the models sit on Prisma's tables, whose columns are the names the file
uses. A many-to-many to a model with a one-field natural key travels as the list of those
keys (`permissionKeys`); its link table (Prisma's `_PermissionToUser`: two foreign keys
and nothing else) is not a table of the file.
"""

from collections import defaultdict
from dataclasses import dataclass
from functools import cache, cached_property

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from datatransfer.declarations import UPSERT, Transfer
from datatransfer.exceptions import Code, DataTransferError
from datatransfer.formats.rows import SECRET_NOT_SHOWN
from datatransfer.graph import dependency_order
from datatransfer.manifest import canonical_json
from datatransfer.masks import MASKS, looks_personal
from datatransfer.policies import WritePolicy, policy_named, policy_names
from datatransfer.reports import Reason

DEFAULT_APPS = ("core",)


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def declaration(model) -> Transfer:
    """The model's `transfer` declaration, or the default one when it has none."""
    declared = getattr(model, "transfer", None)
    if declared is None:
        return Transfer()
    if not isinstance(declared, Transfer):
        raise ImproperlyConfigured(
            f"{model._meta.label}.transfer is not a datatransfer.declarations.Transfer."
        )
    return declared


@cache
def table_key(model) -> str:
    """The file key of a model's table: declared (`categories`), else `AuditLog` ->
    `auditLogs`, `SiteSettings` -> `siteSettings`."""
    declared = declaration(model).file_key
    if declared:
        return declared
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
    (`permissionKeys`), or of their ids when the related model has no one-field natural
    key."""

    key: str
    field: models.ManyToManyField
    natural_field: str | None

    @property
    def related_model(self):
        return self.field.related_model

    @property
    def through(self) -> type[models.Model]:
        """The link table (Prisma's `_PermissionToUser`)."""
        return self.field.remote_field.through

    @property
    def owner_column(self) -> str:
        """The link table's attribute holding the owner's id (`user_id`)."""
        return f"{self.field.m2m_field_name()}_id"

    @property
    def target_column(self) -> str:
        """The link table's attribute holding the related row's id (`permission_id`)."""
        return f"{self.field.m2m_reverse_field_name()}_id"

    def links(self, using: str, *, owners=None, targets=None, keys=False):
        """The (owner id, related id) pairs of the link table, for the owners `owners` and
        the related rows `targets` (None: all); with `keys`, the related rows' keys as the
        file gives them (their natural key, or their id) instead of their ids."""
        rows = self.through._base_manager.using(using)
        if owners is not None:
            rows = rows.filter(**{f"{self.owner_column}__in": owners})
        if targets is not None:
            rows = rows.filter(**{f"{self.target_column}__in": targets})
        target = (
            f"{self.field.m2m_reverse_field_name()}__{self.natural_field}"
            if keys and self.natural_field
            else self.target_column
        )
        return rows.values_list(self.owner_column, target)

    def linked(self, owners, using: str, *, keys=False) -> dict[object, list]:
        """{owner id: sorted related ids (with `keys`, their keys in the file)} for the
        rows `owners` that have links."""
        found = defaultdict(list)
        for owner, target in self.links(using, owners=owners, keys=keys):
            found[owner].append(target)
        return {owner: sorted(targets) for owner, targets in found.items()}

    def set_links(self, using: str, wanted: dict, current: dict, *, batch_size=None) -> None:
        """Make the links of each owner in `wanted` ({owner id: related ids}) exactly those,
        given `current`, the links they have ({owner id: related ids})."""
        manager = self.through._base_manager.using(using)
        new_links = []
        for owner, ids in wanted.items():
            have = set(current.get(owner, ()))
            if have - set(ids):
                manager.filter(**{self.owner_column: owner}).exclude(
                    **{f"{self.target_column}__in": ids}
                ).delete()
            new_links += [
                self.through(**{self.owner_column: owner, self.target_column: target})
                for target in ids
                if target not in have
            ]
        manager.bulk_create(new_links, batch_size=batch_size)


@dataclass(frozen=True)
class TableSpec:
    """One table of the export: its model, its fields, the links written last, and what its
    declaration says (datatransfer/declarations.py), resolved to field specs."""

    key: str
    model: type[models.Model]
    fields: tuple[FieldSpec, ...]
    many_to_many: tuple[ManyToManySpec, ...]
    deferred: tuple[FieldSpec, ...]
    dependencies: tuple[str, ...]
    secret_fields: tuple[str, ...] = ()
    natural_key: tuple[FieldSpec, ...] = ()
    policy: str = UPSERT
    file_fields: tuple[FieldSpec, ...] = ()
    subset_root: FieldSpec | None = None
    audit_log: bool = False
    masks: tuple[tuple[FieldSpec, str], ...] = ()
    not_personal: tuple[str, ...] = ()

    @cached_property
    def pk(self) -> FieldSpec:
        return next(spec for spec in self.fields if spec.field.primary_key)

    @property
    def write_policy(self) -> WritePolicy:
        """The policy object (datatransfer/policies/) the writer and the verifier ask."""
        return policy_named(self.policy)

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

    @cached_property
    def unique_sets(self) -> tuple[tuple[models.Field, ...], ...]:
        """The model's unique keys other than the primary key: unique fields,
        unique_together, unconditional UniqueConstraints."""
        return unique_sets(self.model)

    @cached_property
    def required(self) -> tuple[FieldSpec, ...]:
        """The fields a new row cannot do without: no default, not nullable."""
        return tuple(
            spec for spec in self.fields if not spec.field.has_default() and not spec.field.null
        )

    def missing_required(self, values: dict) -> str | None:
        """The message for a new row whose model `values` lack required fields, else None."""
        missing = [spec.key for spec in self.required if spec.attname not in values]
        return f"missing required field(s) {', '.join(missing)}" if missing else None

    def changed_values(self, current: dict, values: dict) -> dict:
        """The model `values` that differ from the target's row `current`; an empty secret
        (a file exported without its secrets) never replaces a set one."""
        specs = self._by_attname
        return {
            name: value
            for name, value in values.items()
            if not same_value(specs[name].field, current[name], value)
            and not (value == "" and current[name] and specs[name].key in self.secret_keys)
        }

    def unique_conflict(self, fields: tuple[models.Field, ...], values, holder) -> Reason:
        """The message for a row whose unique key `fields` = `values` belongs to the
        target's row `holder`: `slug 'ufhb' already belongs to organizations '<id>'`; a key
        holding a secret is named, never shown. When `fields` are the table's natural key,
        the Reason says so (Code.NATURAL_KEY_HELD), with `holder` and the key as shown."""
        keys = [field.column for field in fields]  # a field's file key is its column
        if self.secret_keys.intersection(keys):
            shown = SECRET_NOT_SHOWN
        else:
            shown = "'" + ", ".join(str(value) for value in values) + "'"
        key = f"{', '.join(keys)} {shown}"
        text = f"{key} already belongs to {self.key} '{holder}'"
        natural = {spec.field for spec in self.natural_key}
        if natural and natural != {self.pk.field} and natural == set(fields):
            return Reason(text, code=Code.NATURAL_KEY_HELD, holder=str(holder), key=key)
        return Reason(text)

    def row_label(self, raw: dict, number: int):
        """A file row's id as the file gives it, or `#<position>` when it has none usable."""
        value = raw.get(self.pk.key)
        usable = isinstance(value, str | int) and not isinstance(value, bool) and value != ""
        return value if usable else f"#{number}"

    @cached_property
    def _by_attname(self) -> dict[str, FieldSpec]:
        return {spec.attname: spec for spec in self.fields}

    def field_keys(self) -> set[str]:
        return {spec.key for spec in self.fields} | {spec.key for spec in self.many_to_many}

    @cached_property
    def changed_at(self) -> FieldSpec | None:
        """The column that says when a row last changed, for an export of the changes
        since a time: the first date-time field set on every save (`auto_now`, or named
        `updated_at`: Prisma's `@updatedAt`, which the models set in `save()`), else the
        first set when the row is made (`auto_now_add`, or named `created_at`: an
        append-only table's rows never change); None when the table has neither."""
        stamps = [spec for spec in self.fields if isinstance(spec.field, models.DateTimeField)]
        for changed in (
            lambda field: field.auto_now or field.name == "updated_at",
            lambda field: field.auto_now_add or field.name == "created_at",
        ):
            found = [spec for spec in stamps if changed(spec.field)]
            if found:
                return found[0]
        return None

    def ordering(self) -> tuple[str, ...]:
        """Rows by creation time, then primary key (the old tool's order, made total)."""
        names = {f.name for f in self.model._meta.concrete_fields}
        return ("created_at", "pk") if "created_at" in names else ("pk",)


def same_value(field, current, new) -> bool:
    """Whether a field's `new` value is its `current` one (JSON compared by content)."""
    if isinstance(field, models.JSONField):
        return canonical_json(current) == canonical_json(new)
    return current == new


@cache
def unique_sets(model) -> tuple[tuple[models.Field, ...], ...]:
    """The model's unique keys other than the primary key (unique fields, unique_together,
    unconditional UniqueConstraints), each as its fields."""
    meta = model._meta
    sets = [(f,) for f in meta.concrete_fields if f.unique and not f.primary_key]
    names = [tuple(group) for group in meta.unique_together]
    names += [
        tuple(c.fields)
        for c in meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields and c.condition is None
    ]
    sets += [tuple(meta.get_field(name) for name in group) for group in names]
    return tuple(sets)


def _declared_fields(model, part: str, names) -> tuple[models.Field, ...]:
    """The concrete fields `names` of the declaration's `part`; ImproperlyConfigured for a
    name that is not one."""
    fields = []
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or not field.concrete or field.many_to_many:
            raise ImproperlyConfigured(
                f"{model._meta.label}.transfer {part}: '{name}' is not a column of the model."
            )
        fields.append(field)
    return tuple(fields)


def natural_key_names(model) -> tuple[str, ...]:
    """The model's declared natural key, checked: concrete fields that together are unique
    (the primary key alone is one too). Raises ImproperlyConfigured otherwise (a key
    matching several rows would be a guess)."""
    names = tuple(declaration(model).natural_key)
    fields = _declared_fields(model, "natural_key", names)
    unique = {frozenset(group) for group in unique_sets(model)} | {frozenset((model._meta.pk,))}
    if names and frozenset(fields) not in unique:
        raise ImproperlyConfigured(
            f"{model._meta.label}.transfer natural_key {names} is not a unique key of the "
            "model (add a UniqueConstraint)."
        )
    return names


def transfer_policy(model, model_list=()) -> str:
    """The model's declared policy (default "upsert"), checked against `model_list`, the
    models travelling with it. Raises ImproperlyConfigured for an unknown policy, or one
    the model cannot have (the policy's own `check`: datatransfer/policies/)."""
    name = declaration(model).policy
    label = model._meta.label
    policy = policy_named(name)
    if policy is None:
        raise ImproperlyConfigured(
            f"{label}.transfer policy '{name}' is not one of {', '.join(policy_names())}."
        )
    if problem := policy.check(model, model_list):
        raise ImproperlyConfigured(f"{label}.transfer policy '{name}': {problem}.")
    return name


def _file_fields(model) -> tuple[models.Field, ...]:
    """The declared file fields, or the model's FileFields when none are declared."""
    declared = declaration(model).file_fields
    if declared is None:
        return tuple(f for f in model._meta.concrete_fields if isinstance(f, models.FileField))
    return _declared_fields(model, "file_fields", declared)


def _subset_root(model) -> models.Field | None:
    name = declaration(model).subset_root
    if name is None:
        return None
    (field,) = _declared_fields(model, "subset_root", (name,))
    if not field.unique:
        raise ImproperlyConfigured(
            f"{model._meta.label}.transfer subset_root '{name}' is not a unique field: it "
            "must name one row."
        )
    return field


def _masks(model, by_name) -> tuple[tuple[FieldSpec, str], ...]:
    """The declared masks, as (field spec, mask name); ImproperlyConfigured for a name that
    is not a column, a mask that does not exist, or a field also declared not personal."""
    declared = declaration(model)
    label = model._meta.label
    fields = _declared_fields(model, "masks", tuple(declared.masks))
    _declared_fields(model, "not_personal", declared.not_personal)
    unknown = sorted(name for name in declared.masks.values() if name not in MASKS)
    if unknown:
        raise ImproperlyConfigured(
            f"{label}.transfer masks: no mask named {', '.join(unknown)} (there are "
            f"{', '.join(sorted(MASKS))})."
        )
    both = sorted(set(declared.masks) & set(declared.not_personal))
    if both:
        raise ImproperlyConfigured(
            f"{label}.transfer: {', '.join(both)} both masked and declared not personal."
        )
    return tuple((by_name[f.name], declared.masks[f.name]) for f in fields)


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


def _one_field_natural_key(model) -> str | None:
    """The name of the model's natural key when it is one field other than the primary key."""
    names = natural_key_names(model)
    if len(names) == 1 and not model._meta.get_field(names[0]).primary_key:
        return names[0]
    return None


def _many_to_many_spec(field) -> ManyToManySpec | None:
    if travelling_through(field) is None:
        return None
    natural = _one_field_natural_key(field.related_model)
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
        declared = declaration(node.model)
        root = _subset_root(node.model)
        specs.append(
            TableSpec(
                key=table_key(node.model),
                model=node.model,
                fields=fields,
                many_to_many=m2m,
                deferred=tuple(s for s in fields if s.field.name in deferred_names),
                dependencies=tuple(table_key(m) for m in node.dependencies),
                secret_fields=tuple(
                    f.name for f in _declared_fields(node.model, "secrets", declared.secrets)
                ),
                natural_key=tuple(by_name[name] for name in natural_key_names(node.model)),
                policy=transfer_policy(node.model, model_list),
                file_fields=tuple(by_name[f.name] for f in _file_fields(node.model)),
                subset_root=by_name[root.name] if root else None,
                audit_log=declared.audit_log,
                masks=_masks(node.model, by_name),
                not_personal=tuple(declared.not_personal),
            )
        )
    _check_distinct(specs)
    return tuple(specs)


def _check_distinct(specs) -> None:
    """Two tables under one file key, or two subset roots, are a declaration error."""
    keys = [spec.key for spec in specs]
    twice = sorted({spec.label for spec in specs if keys.count(spec.key) > 1})
    if twice:
        raise ImproperlyConfigured(f"{', '.join(twice)} have the same file key.")
    roots = [spec.label for spec in specs if spec.subset_root]
    if len(roots) > 1:
        raise ImproperlyConfigured(f"{', '.join(roots)} each declare a subset_root; one may.")


@cache
def domain_tables() -> tuple[TableSpec, ...]:
    """The domain's TableSpecs in dependency order (computed once per process)."""
    return build_tables(domain_models())


def tables_by_key() -> dict[str, TableSpec]:
    return {spec.key: spec for spec in domain_tables()}


def subset_root_table() -> TableSpec:
    """The table whose rows a subset export starts from (the one declaring a subset_root).
    Raises DataTransferError when no domain model declares one."""
    for spec in domain_tables():
        if spec.subset_root:
            return spec
    raise DataTransferError("No domain model declares a subset_root: there is no subset export.")


def audit_log_keys() -> list[str]:
    """The file keys of the tables declared `audit_log`, in the file's order."""
    return [spec.key for spec in domain_tables() if spec.audit_log]


def excluded_keys(names) -> set[str]:
    """The file keys of the tables `names` leaves out, each named by its file key
    (`auditLogs`) or its model label (`core.AuditLog`, in any case, as dumpdata takes).
    Raises DataTransferError naming the unknown names and the valid ones."""
    by_name = {}
    for spec in domain_tables():
        by_name[spec.key] = by_name[spec.label.lower()] = spec.key
    found = {name: by_name.get(name) or by_name.get(name.lower()) for name in set(names)}
    unknown = sorted(name for name, key in found.items() if key is None)
    if unknown:
        valid = ", ".join(f"{spec.key} ({spec.label})" for spec in domain_tables())
        raise DataTransferError(
            f"Unknown table(s) to exclude: {', '.join(unknown)}. Valid names: {valid}."
        )
    return set(found.values())


def undeclared_personal_fields(model) -> list[str]:
    """The fields of `model` whose name or type suggests personal data (masks.looks_personal)
    and that its declaration neither masks nor declares `not_personal`, as `label.field`."""
    declared = declaration(model)
    decided = set(declared.masks) | set(declared.not_personal)
    return [
        f"{model._meta.label}.{field.name}"
        for field in model._meta.concrete_fields
        if not (field.primary_key or field.is_relation)
        and field.name not in decided
        and looks_personal(field)
    ]
