"""The models made from a Prisma schema: the vendored one gives core/models.py exactly, and
each of the five schema changes gives the models that follow it (no database needed)."""

from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

from core import modelbase
from core.fields import EnumField, TimestampField
from core.modelcheck import model_differences, schema_models
from core.modelgen import generate_models, snake_case
from core.prisma_schema import Call, Name, PrismaSchemaError, parse_schema
from datatransfer.registry import declaration, table_key
from tests import schema_changes

MODELS_PY = Path(__file__).resolve().parents[3] / "core" / "models.py"


def models_from(text: str) -> dict[str, type[models.Model]]:
    return {m.__name__: m for m in schema_models(generate_models(parse_schema(text)))}


def test_the_schema_reader_reads_fields_attributes_and_enums():
    schema = parse_schema(schema_changes.vendored())
    assert len(schema.models) == 16 and len(schema.enums) == 8
    department = schema.models["Department"]
    assert department.block_attributes("unique")[0].args == (
        (Name("organizationId"), Name("code")),
    )
    assert department.field("id").attribute("default").args == (Call("cuid"),)
    date = schema.models["DocumentPartage"].field("dateObtention")
    assert date.optional and date.native_type.name == "Date"
    assert schema.models["Abonnement"].field("price").native_type.args == (12, 2)
    assert schema.models["User"].field("permissions").list
    assert schema.enums["Role"].labels[-1] == "USER"


def test_the_reader_follows_map_and_names_a_malformed_line():
    schema = parse_schema(
        'model A {\n  id String @id @map("_id") // a comment\n  @@map("a_table")\n}\n'
        'enum E {\n  ONE @map("one")\n  @@map("e_type")\n}\n'
    )
    assert schema.models["A"].table == "a_table"
    assert schema.models["A"].field("id").column == "_id"
    assert schema.enums["E"].labels == ("one",) and schema.enums["E"].db_name == "e_type"
    with pytest.raises(PrismaSchemaError, match="line 2: cannot read the field"):
        parse_schema("model A {\n  id\n}\n")


def test_snake_case():
    assert snake_case("organizationId") == "organization_id"
    assert snake_case("aDocument") == "a_document"
    assert snake_case("ipAddress") == "ip_address"


def test_the_vendored_schema_gives_core_models_exactly():
    source = generate_models(parse_schema(schema_changes.vendored()))
    assert source == MODELS_PY.read_text(encoding="utf-8")
    current = list(apps.get_app_config("core").get_models())
    assert model_differences(schema_models(source), current) == []


def test_a_new_optional_column():
    user = models_from(schema_changes.new_optional_column(schema_changes.vendored()))["User"]
    field = user._meta.get_field("nickname")
    assert isinstance(field, models.TextField) and field.column == "nickname"
    assert field.null and not field.has_default()


def test_a_new_required_column_with_a_default():
    text = schema_changes.new_required_column_with_default(schema_changes.vendored())
    field = models_from(text)["Organization"]._meta.get_field("member_limit")
    assert isinstance(field, models.IntegerField) and field.column == "memberLimit"
    assert not field.null and field.default == 50


def test_a_new_model_with_a_relation_and_a_unique_pair():
    badge = models_from(schema_changes.new_model(schema_changes.vendored()))["Badge"]
    assert badge._meta.db_table == "Badge"
    assert issubclass(badge, modelbase.TimestampedModel)
    organization = badge._meta.get_field("organization")
    assert organization.column == "organizationId" and not organization.null
    assert organization.related_model._meta.db_table == "Organization"
    assert organization.remote_field.on_delete is models.CASCADE
    assert organization.remote_field.related_name == "badges"
    assert badge._meta.get_field("code").max_length == 20
    (unique,) = badge._meta.constraints
    assert unique.fields == ("organization", "code")
    assert unique.name == "Badge_organizationId_code_key"
    # The defaults of a model the schema adds: it travels at once, by id, with no secret.
    transfer = declaration(badge)
    assert table_key(badge) == "badges"
    assert transfer.policy == "upsert" and transfer.secrets == () and transfer.natural_key == ()


def test_a_new_enum_label():
    found = models_from(schema_changes.new_enum_label(schema_changes.vendored()))
    for model in (found["User"], found["OrganizationInvite"]):
        role = model._meta.get_field("role")
        assert isinstance(role, EnumField) and role.enum_name == "Role"
        assert role.labels == ("SUPERADMIN", "ADMIN", "ORG_ADMIN", "AGENT", "USER", "GUEST")


def test_a_dropped_column():
    demande = models_from(schema_changes.dropped_column(schema_changes.vendored()))[
        "DemandePartage"
    ]
    assert "motif" not in {f.name for f in demande._meta.get_fields()}
    assert isinstance(demande._meta.get_field("deleted_at"), TimestampField)


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ("new optional column", "User.nickname: in the schema, not in the models"),
        ("new required column with a default", "Organization.memberLimit: in the schema"),
        ("new model", "Badge: a table in the schema, not in the models"),
        ("new enum label", "User.role: labels GUEST in the schema, not in the models"),
        ("dropped column", "DemandePartage.motif: in the models, not in the schema"),
    ],
)
def test_each_change_is_a_difference_named_against_the_models(change, difference):
    text = schema_changes.CHANGES[change](schema_changes.vendored())
    current = list(apps.get_app_config("core").get_models())
    found = model_differences(schema_models(generate_models(parse_schema(text))), current)
    assert any(line.startswith(difference) for line in found), found


@pytest.mark.parametrize(
    ("field", "refusal"),
    [
        ("  x String @db.Uuid", "A.x: the type @db.Uuid cannot be mapped"),
        ('  x Unsupported("geometry")?', 'A.x: the type Unsupported("geometry") cannot be mapped'),
        ("  x String[]", "A.x: a list of String cannot be mapped"),
        ("  x String @default(uuid())", "A.x: the default uuid() cannot be mapped"),
        ("  x Bytes", "A.x: the type Bytes cannot be mapped"),
    ],
)
def test_what_cannot_be_mapped_is_refused_naming_it(field, refusal):
    schema = parse_schema(f"model A {{\n  id String @id\n{field}\n}}\n")
    with pytest.raises(PrismaSchemaError) as raised:
        generate_models(schema)
    assert str(raised.value) == refusal


def test_a_composite_id_is_refused():
    schema = parse_schema("model A {\n  a String\n  b String\n\n  @@id([a, b])\n}\n")
    with pytest.raises(PrismaSchemaError, match="A: a composite id"):
        generate_models(schema)
