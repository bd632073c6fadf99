"""The masks of an anonymized export (datatransfer/masks.py) and the declarations that name
them: every field that looks personal is masked or declared not personal, each mask is a
function of the key and the value only, and unique values stay unique."""

import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from faker.providers.person.fr_FR import Provider as FrenchNames

from core.models import ContactMessage, User
from datatransfer.declarations import Transfer
from datatransfer.exceptions import Code, DataTransferError
from datatransfer.masks import (
    DEV_PASSWORD_HASH,
    EMAIL_DOMAIN,
    FIRST_NAMES,
    LAST_NAMES,
    MASKS,
    Anonymizer,
    Keyed,
    require_key,
)
from datatransfer.registry import (
    build_tables,
    domain_models,
    tables_by_key,
    undeclared_personal_fields,
)

KEY, OTHER_KEY = Keyed("key one"), Keyed("key two")


def masked(name, value, keyed=KEY):
    return MASKS[name](keyed, value)


def test_every_field_that_looks_personal_has_a_mask_or_is_declared_not_personal():
    # A column added to the schema later (`User.nickname_email`, a JSON column) fails here
    # until its model's transfer declaration says how it is masked, or that it is not personal.
    assert [name for model in domain_models() for name in undeclared_personal_fields(model)] == []


def fake_model(transfer, *fields):
    for field in fields:
        field.set_attributes_from_name(field.name)
    meta = SimpleNamespace(label="core.Fake", concrete_fields=fields)
    return SimpleNamespace(transfer=transfer, _meta=meta)


def test_a_new_personal_looking_column_is_caught_by_its_name_or_type():
    fields = (
        models.TextField(name="backup_email"),
        models.TextField(name="home_address"),
        models.TextField(name="ip"),
        models.TextField(name="description"),  # "ip" inside a word is not the word "ip"
        models.GenericIPAddressField(name="last_seen_from"),
        models.JSONField(name="preferences"),
        models.CharField(name="reset_token", max_length=10),
        models.CharField(name="label", max_length=10),
    )
    assert undeclared_personal_fields(fake_model(Transfer(), *fields)) == [
        "core.Fake.backup_email",
        "core.Fake.home_address",
        "core.Fake.ip",
        "core.Fake.last_seen_from",
        "core.Fake.preferences",
        "core.Fake.reset_token",
    ]
    decided = Transfer(
        masks={"backup_email": "email", "home_address": "text", "ip": "ip"},
        not_personal=("last_seen_from", "preferences", "reset_token"),
    )
    assert undeclared_personal_fields(fake_model(decided, *fields)) == []


def test_the_registry_reads_the_masks_as_file_keys():
    users = tables_by_key()["users"]
    assert {spec.key: name for spec, name in users.masks} == {
        "email": "email",
        "passwordHash": "password",
        "firstName": "first_name",
        "lastName": "last_name",
        "phone": "phone",
    }
    assert tables_by_key()["departments"].not_personal == ("name",)


@pytest.mark.parametrize(
    ("transfer", "message"),
    [
        (Transfer(masks={"nickname": "email"}), "masks: 'nickname' is not a column"),
        (Transfer(masks={"email": "scramble"}), "no mask named scramble"),
        (Transfer(not_personal=("nickname",)), "not_personal: 'nickname' is not a column"),
        (
            Transfer(masks={"email": "email"}, not_personal=("email",)),
            "email both masked and declared not personal",
        ),
    ],
)
def test_the_registry_refuses_a_mask_it_cannot_apply(monkeypatch, transfer, message):
    monkeypatch.setattr(ContactMessage, "transfer", transfer)
    with pytest.raises(ImproperlyConfigured, match=message):
        build_tables([ContactMessage])


def test_the_same_value_gets_the_same_mask_whatever_the_table_and_another_under_another_key():
    for name, value in [
        ("email", "anne.payet@free.fr"),
        ("first_name", "Anne"),
        ("last_name", "Payet"),
        ("phone", "+33 6 12 34 56 78"),
        ("text", "Bonjour, je suis Anne Payet."),
        ("token", "bcb3636d7fbe6bb330aed12de8f10194ee25356aaee01ec9bf0418a9f2765513"),
        ("ip", "72.78.56.185"),
    ]:
        assert masked(name, value) == masked(name, value) != value
        assert masked(name, value) != masked(name, value, OTHER_KEY) or name.endswith("name")
    # A contact message from Anne Payet gets the names user Anne Payet gets.
    assert masked("full_name", "Anne Payet") == f"{masked('first_name', 'Anne')} " + masked(
        "last_name", "Payet"
    )


def test_emails_stay_unique_under_the_reserved_domain():
    emails = [f"user{n}@example.org" for n in range(5000)]
    masks = {masked("email", email) for email in emails}
    assert len(masks) == len(emails)
    assert all(re.fullmatch(rf"u[0-9a-f]{{16}}@{re.escape(EMAIL_DOMAIN)}", m) for m in masks)
    # The domain is compared without case: the same address, the same mask.
    assert masked("email", "Anne@Free.FR") == masked("email", "Anne@free.fr")


def test_tokens_stay_unique_and_keep_their_length():
    tokens = [f"{n:064x}" for n in range(5000)]
    masks = {masked("token", token) for token in tokens}
    assert len(masks) == len(tokens)
    assert {len(m) for m in masks} == {64}


def test_phones_keep_their_format_text_its_length():
    for phone in ("+33 (0)1 23 45 67 89", "01.23.45.67.89", "0612345678"):
        mask = masked("phone", phone)
        assert re.sub(r"\d", "0", mask) == re.sub(r"\d", "0", phone) and mask != phone
    text = "Bonjour,\nje voudrais une copie de mon diplôme, Anne Payet.\n\nMerci"
    mask = masked("text", text)
    assert len(mask) == len(text) and mask.count("\n") == text.count("\n")
    assert "Anne" not in mask and "Payet" not in mask


def test_json_keeps_its_structure_and_masks_every_string():
    value = {
        "client": {"nom": "Anne Payet", "email": "anne@free.fr", "tel": "06 12 34 56 78"},
        "montant": 12.5,
        "urgence": True,
        "pièces": [{"pages": 3, "type": "DIPLOME"}],
        "note": None,
    }
    mask = masked("json", value)
    assert mask["montant"] == 12.5 and mask["urgence"] is True and mask["note"] is None
    assert mask["pièces"][0]["pages"] == 3 and len(mask["pièces"][0]["type"]) == 7
    assert mask["client"]["email"].endswith("@" + EMAIL_DOMAIN)
    assert re.fullmatch(r"\d\d \d\d \d\d \d\d \d\d", mask["client"]["tel"])
    assert "Anne" not in str(mask) and "Payet" not in str(mask)


def test_password_hashes_become_the_documented_hash_and_empty_values_stay_empty():
    assert masked("password", "$2b$10$abc") == DEV_PASSWORD_HASH
    for name in MASKS:
        assert masked(name, None) is None and masked(name, "") == ""


def test_ips_stay_addresses_in_private_ranges():
    assert masked("ip", "72.78.56.185").startswith("10.")
    assert masked("ip", "2001:db8::1").startswith("fd")


def test_the_names_are_none_of_the_demos_french_names():
    # So that searching a masked demo export for its source names finds none by chance.
    french = set(FrenchNames.first_names) | set(FrenchNames.last_names)
    assert not french & (set(FIRST_NAMES) | set(LAST_NAMES))


def test_the_key_id_names_the_key_without_showing_it():
    assert KEY.key_id != OTHER_KEY.key_id and "key one" not in KEY.key_id


def test_an_anonymized_export_without_a_key_is_refused_in_one_line(settings):
    settings.DATATRANSFER_ANONYMIZE_KEY = ""
    with pytest.raises(DataTransferError) as caught:
        require_key(None)
    assert caught.value.code == Code.ANONYMIZE_KEY_MISSING
    assert "DATATRANSFER_ANONYMIZE_KEY" in str(caught.value) and "\n" not in str(caught.value)
    settings.DATATRANSFER_ANONYMIZE_KEY = "a key"
    assert require_key(None) == "a key"


def test_a_secret_no_mask_covers_is_written_empty():
    users = tables_by_key()["users"]
    unmasked = replace(users, masks=())
    source = (row for row in [({"passwordHash": "$2b$10$x", "email": "a"}, False)])
    rows = Anonymizer("k").rows(unmasked, source)
    assert next(rows)[0] == {"passwordHash": "", "email": "a"}
    assert User.transfer.masks["password_hash"] == "password"
