"""`manage.py inspectprisma`: writes the models from a schema, or checks them against it."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests import schema_changes
from tests.subprocesses import run_manage


def test_check_passes_on_the_vendored_schema():
    out = StringIO()
    call_command("inspectprisma", "--check", stdout=out)
    assert "The models match core/prisma/schema.prisma" in out.getvalue()


def test_check_fails_on_an_edited_copy_naming_each_difference(tmp_path):
    schema = tmp_path / "schema.prisma"
    text = schema_changes.new_optional_column(schema_changes.vendored())
    schema.write_text(schema_changes.dropped_column(text))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 difference") as raised:
        call_command("inspectprisma", str(schema), "--check", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert err.getvalue().splitlines() == [
        "DemandePartage.motif: in the models, not in the schema",
        "User.nickname: in the schema, not in the models",
    ]


def test_check_names_a_models_module_edited_by_hand(tmp_path):
    edited = tmp_path / "models.py"
    edited.write_text("# edited\n")
    with pytest.raises(CommandError, match="1 difference"):
        call_command("inspectprisma", "--check", "-o", str(edited), stderr=StringIO())


def test_writes_the_models_of_a_changed_schema(tmp_path):
    schema, output = tmp_path / "schema.prisma", tmp_path / "models.py"
    schema.write_text(schema_changes.new_model(schema_changes.vendored()))
    out = StringIO()
    call_command("inspectprisma", str(schema), "-o", str(output), stdout=out)
    assert "Wrote" in out.getvalue() and "makemigrations core" in out.getvalue()
    assert "class Badge(TimestampedModel):" in output.read_text()
    out = StringIO()
    call_command("inspectprisma", str(schema), "-o", str(output), stdout=out)
    assert "is up to date" in out.getvalue()


@pytest.mark.e2e
def test_refuses_what_it_cannot_map_in_one_line_and_writes_nothing(tmp_path):
    schema, output = tmp_path / "schema.prisma", tmp_path / "models.py"
    schema.write_text("model A {\n  id String @id\n  x String @db.Uuid\n}\n")
    result = run_manage(
        "inspectprisma", str(schema), "-o", str(output), env={"ENV_FILE": "/dev/null"}
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("A.x: the type @db.Uuid cannot be mapped")
    assert "Traceback" not in result.stderr and not output.exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "schema_text, refusal",
    [
        ("model A {\n  id String @id\n  id String\n}\n", "A.id is defined twice"),
        ("enum E {\n  X\n  X\n}\nmodel A {\n  id String @id\n}\n", "E.X is defined twice"),
    ],
)
def test_refuses_a_name_defined_twice_in_a_block(tmp_path, schema_text, refusal):
    schema, output = tmp_path / "schema.prisma", tmp_path / "models.py"
    schema.write_text(schema_text)
    result = run_manage(
        "inspectprisma", str(schema), "-o", str(output), env={"ENV_FILE": "/dev/null"}
    )
    assert result.returncode == 2
    assert refusal in result.stderr and "Traceback" not in result.stderr
    assert not output.exists()


@pytest.mark.e2e
def test_an_output_it_cannot_write_is_one_line_and_leaves_no_partial_module(tmp_path):
    result = run_manage(
        "inspectprisma", "-o", str(tmp_path / "missing" / "models.py"),
        env={"ENV_FILE": "/dev/null"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("CommandError: Cannot write")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
