"""Numbers survive: integers beyond 64 bits in JSON columns round-trip exactly (orjson
refuses them; the standard library takes over), and BigInt columns are written as strings,
which JavaScript (the old Node.js tool) reads exactly, where a number above 2^53 is rounded."""

import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from core.models import BlockchainBlock, Configuration, DocumentPartage
from datatransfer.verifier import verify_domain
from tests import factories as f

pytestmark = pytest.mark.django_db

HUGE = {
    "max": 18446744073709551616,  # 2^64: beyond what orjson takes
    "min": -9223372036854775809,  # -2^63 - 1
    "nested": [2**70, 1.5, {"deep": 10**30}, 12345678901234567890123],
    "text": "12345678901234567890123 in a string",
}
NONCE, FILE_SIZE = 2**53 + 1, 2**62 + 7


@pytest.fixture
def source():
    """The domain's database with the values that do not survive a float or orjson."""
    Configuration.objects.create(id="ckconfhuge000000000000001", key="limits", value=HUGE)
    document = f.DocumentPartageFactory(file_size=FILE_SIZE)
    f.BlockchainBlockFactory(document_partage=document, nonce=NONCE, data={"big": 2**64})
    return "platform"


def dump(path, *args, using="platform"):
    call_command("dumpdomain", str(path), "--database", using, "-v", "0", *args)
    return path


def load(path, using, *args):
    call_command("loaddomain", "--no-input", str(path), "--database", using, "-v", "0", *args)


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
@pytest.mark.parametrize("indent", ["2", "0"])
def test_integers_beyond_64_bits_in_json_round_trip_exactly(
    source, make_database, tmp_path, vendor, indent
):
    path = dump(tmp_path / "huge.json", "--indent", indent)
    assert "18446744073709551616" in path.read_text(encoding="utf-8")
    target = make_database(vendor)
    load(path, target)  # refused as "altered" before: the manifest must agree on both sides
    assert Configuration.objects.using(target).get(key="limits").value == HUGE
    assert BlockchainBlock.objects.using(target).get().data == {"big": 2**64}
    assert verify_domain(str(path), using=target).agrees
    again = dump(tmp_path / "again.json", "--indent", indent, using=target)
    assert json.loads(again.read_text())["data"] == json.loads(path.read_text())["data"]


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_without_verification_nothing_is_rounded_either(source, make_database, tmp_path, vendor):
    target = make_database(vendor)
    load(dump(tmp_path / "huge.json"), target, "--no-verify")
    assert Configuration.objects.using(target).get(key="limits").value == HUGE


def test_a_table_read_before_the_one_it_needs_keeps_its_big_integers(
    source, tmp_path, make_database
):
    path = dump(tmp_path / "ordered.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    data = document["data"]
    # Blocks first: they wait in a temporary file until their documents are in.
    document["data"] = {"blockchainBlocks": data.pop("blockchainBlocks"), **data}
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    target = make_database("sqlite")
    load(reordered, target)
    assert BlockchainBlock.objects.using(target).get().data == {"big": 2**64}


def test_big_integer_columns_are_written_as_strings_that_javascript_reads_exactly(source, tmp_path):
    text = dump(tmp_path / "export.json").read_text(encoding="utf-8")
    [block] = json.loads(text)["data"]["blockchainBlocks"]
    [document] = json.loads(text)["data"]["documentPartages"]
    assert block["nonce"] == str(NONCE) and document["fileSize"] == str(FILE_SIZE)
    # As a JSON number, JavaScript would have read 9007199254740992 (a double).
    assert float(NONCE) == NONCE - 1
    assert not re.search(r'"(nonce|fileSize)": \d', text)


def test_big_integer_columns_are_read_as_numbers_and_as_strings(node_file, tmp_path):
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    blocks = document["data"]["blockchainBlocks"]
    assert {type(block["nonce"]) for block in blocks} == {str, int}  # both in one file
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    assert set(BlockchainBlock.objects.values_list("nonce", flat=True)) == {
        int(block["nonce"]) for block in blocks
    }
    assert DocumentPartage.objects.get().file_size == 2483921
