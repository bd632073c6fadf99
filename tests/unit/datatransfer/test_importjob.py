"""The import job's pieces: its options checked once, its errors and notes flag-free with
a code, which the command line turns into the hint naming the flag."""

import ast
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from datatransfer.exceptions import Code, DataTransferError, UnknownTableError
from datatransfer.importer import ImportOptions
from tests.importing import import_domain

PACKAGE = Path(__file__).resolve().parents[3] / "datatransfer"
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def messages(path: Path):
    """The string constants of a module that are not docstrings: its messages."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.lineno, node.value


def test_no_module_outside_the_command_line_names_a_flag():
    named = [
        f"{path.relative_to(PACKAGE)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "management" not in path.parts and "migrations" not in path.parts
        for line, text in messages(path)
        if FLAG.search(text)
    ]
    assert named == []


def test_the_options_are_checked_once_and_frozen():
    options = ImportOptions(exclude=["auditLogs"], batch_size=None)
    assert options.exclude == frozenset({"auditLogs"}) and options.batch_size == 1000
    assert options.using and options.lock_timeout == 30
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.dry_run = True
    for bad, text in [
        ({"match": "email"}, "Unknown match 'email'"),
        ({"batch_size": -1}, "The batch size must be at least 1."),
        ({"exclude": ["nothing"]}, "Unknown table(s) to exclude: nothing."),
    ]:
        with pytest.raises(DataTransferError) as raised:
            ImportOptions(**bad)
        assert raised.value.code is Code.BAD_OPTION and text in str(raised.value)


@pytest.mark.django_db
def test_an_unknown_table_is_a_coded_error_and_the_command_names_the_flag(node_file, tmp_path):
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    document["data"]["notifications"] = []
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(UnknownTableError) as raised:
        import_domain(path)
    assert raised.value.code is Code.UNKNOWN_NAMES and "--" not in str(raised.value)
    with pytest.raises(CommandError) as raised:
        call_command("loaddomain", "--no-input", str(path), stdout=io.StringIO())
    assert str(raised.value).endswith("(use --ignore-unknown to skip them).")
    report = import_domain(path, ignore_unknown=True)
    [note] = [n for n in report.notes if "notifications" in n]
    assert note.code is Code.UNKNOWN_SKIPPED and "--" not in note
    assert "--" not in json.dumps(report.as_dict()["notes"])
