"""The compiled catalogues (.mo, committed: the tests and the server need no gettext tools)
say what their .po files say: `compilemessages` was not forgotten after an edit."""

import ast
import gettext
from pathlib import Path

import pytest

from tests.subprocesses import ROOT

CATALOGUES = sorted(ROOT.glob("*/locale/*/LC_MESSAGES/django.po"))


def po_entries(path: Path):
    """(context, msgid, plural msgid, msgstr or first plural msgstr) of each translated,
    non-fuzzy entry of a .po file, the header left out."""
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        if any(line.startswith("#,") and "fuzzy" in line for line in block.splitlines()):
            continue
        fields, current = {}, None
        for line in block.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if not line.startswith('"'):
                current, line = line.split(" ", 1)
                fields[current] = ""
            fields[current] += ast.literal_eval(line)
        translated = fields.get("msgstr", fields.get("msgstr[0]", ""))
        if fields.get("msgid") and translated:
            yield fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"), translated


def test_there_are_catalogues_for_both_apps():
    assert {path.parts[-5] for path in CATALOGUES} == {"core", "datatransfer"}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_compiled_catalogue_matches_its_po_file(po):
    with open(po.with_suffix(".mo"), "rb") as file:
        compiled = gettext.GNUTranslations(file)
    entries = list(po_entries(po))
    assert len(entries) > 10
    for context, msgid, plural, msgstr in entries:
        if plural:
            found = compiled.ngettext(msgid, plural, 1)
        elif context:
            found = compiled.pgettext(context, msgid)
        else:
            found = compiled.gettext(msgid)
        assert found == msgstr, f"{po}: {msgid!r} compiles to {found!r}, not {msgstr!r}"
