"""What is special about a domain model for the transfer, declared once, on the model.

    from datatransfer.declarations import Transfer

    class User(models.Model):
        transfer = Transfer(secrets=("password_hash",), natural_key=("email",))

Every part is optional, and a model with nothing special declares nothing: what it leaves
out comes from its metadata. The registry (`datatransfer/registry.py`) reads and checks
the declarations once, when it builds the TableSpecs; every other module reads them
through the TableSpecs. This module imports no model and nothing of the transfer's
machinery, so a models module can import it.

Names are the model's field names (`password_hash`, `organization`), never columns.

- `file_key`: the table's key in the file. Default: the model name in camelCase plural,
  with an `s` unless the name already ends in one (`DemandePartage` -> `demandePartages`,
  `SiteSettings` -> `siteSettings`). Declare an irregular plural (`"categories"`).
- `secrets`: fields whose values are never printed nor reported, written empty for an
  export without secrets and for rows that travel only as references; an empty secret in
  a file never replaces a set one.
- `natural_key`: fields that together identify a row whatever its id (matching by
  natural key). They must be a unique key of the model (a unique field, or a
  UniqueConstraint / unique_together on exactly these fields). A many-to-many to a model
  whose natural key is one field other than its primary key travels as the list of
  those keys (`permissionKeys`), else as the list of ids.
- `file_fields`: fields holding the path of an uploaded file under MEDIA_ROOT, which
  travel in an archive with the data. Default (None): the model's FileFields.
- `subset_root`: on the one model whose rows a subset export starts from
  (`Organization`), the unique field that names those rows (`"slug"`).
- `policy`: how an import may write the rows, the name of a write policy of
  `datatransfer/policies/` (one module each; docs/write-policies.md). `"upsert"` (the
  default) inserts or updates by primary key. `"append-only"` never changes a row of the
  target: a file row is judged by its content (every column but the id), and one the
  target lacks is inserted under a new id from the target's own sequence (an event log),
  as a multiset. `"immutable"` inserts a row whose id is new and never changes an existing
  one (a file row that differs is a conflict). Each policy checks the models it can take
  (append-only: an auto-incrementing key, no many-to-many, no natural key, no model
  linking to it; immutable: no many-to-many); the package's modules list the others.
- `masks`: {field: mask name} for the fields holding personal data, masked in an
  anonymized export (datatransfer/masks.py: "email", "first_name", "last_name",
  "full_name", "phone", "text", "json", "password", "token", "ip"; docs/masking.md).
- `not_personal`: fields whose name or type looks personal (an email, a name, a hash,
  a JSON column...) but that hold no personal data: they travel as they are. A field
  that looks personal and is in neither fails a test, so a new column cannot leak.
- `audit_log`: the table is the platform's log of events, which an export or an import
  may be told to leave out as a whole (the command line's option to skip the audit).
"""

from dataclasses import dataclass, field

# The names of the policies the project's own models declare (datatransfer/policies/).
UPSERT, APPEND_ONLY, IMMUTABLE = "upsert", "append-only", "immutable"


@dataclass(frozen=True)
class Transfer:
    """A model's transfer declaration: set it as the model's `transfer` class attribute."""

    file_key: str | None = None
    secrets: tuple[str, ...] = ()
    natural_key: tuple[str, ...] = ()
    file_fields: tuple[str, ...] | None = None
    subset_root: str | None = None
    policy: str = UPSERT
    audit_log: bool = False
    masks: dict[str, str] = field(default_factory=dict)
    not_personal: tuple[str, ...] = ()
