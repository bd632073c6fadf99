"""CUID primary keys."""

import pytest

from core import models
from core.cuid import ALPHABET, format_cuid, is_cuid, new_cuid, to_base36


def test_new_cuid_is_25_lowercase_base36_characters_starting_with_c():
    cuid = new_cuid()
    assert len(cuid) == 25
    assert cuid[0] == "c"
    assert set(cuid) <= set("0123456789abcdefghijklmnopqrstuvwxyz")
    assert cuid == cuid.lower()


def test_ten_thousand_cuids_are_unique():
    assert len({new_cuid() for _ in range(10_000)}) == 10_000


def test_is_cuid():
    assert is_cuid(new_cuid())
    assert is_cuid("ckx9q2v0e0000a1b2c3d4e5f6")
    assert not is_cuid("ckx9q2v0e0000a1b2c3d4e5f")  # 24 characters
    assert not is_cuid("dkx9q2v0e0000a1b2c3d4e5f6")  # does not start with c
    assert not is_cuid("cKX9Q2V0E0000A1B2C3D4E5F6")  # upper case
    assert not is_cuid("ckx9q2v0e0000a1b2c3d4e5f-")
    assert not is_cuid(None)
    assert not is_cuid(12345)


def test_format_cuid_is_deterministic_and_keeps_its_parts():
    cuid = format_cuid(1_700_000_000_000, 42, 1234, 987_654_321)
    assert cuid == format_cuid(1_700_000_000_000, 42, 1234, 987_654_321)
    assert is_cuid(cuid)
    assert cuid[1:9] == to_base36(1_700_000_000_000, 8)
    assert cuid[9:13] == "0016"  # 42 in base 36
    assert int(cuid[13:17], 36) == 1234
    assert int(cuid[17:], 36) == 987_654_321
    assert format_cuid(1_700_000_000_001, 42, 1234, 987_654_321) != cuid


def test_parts_wider_than_their_field_are_cut_to_width():
    assert is_cuid(format_cuid(36**9, 36**5, 36**5, 36**9))
    assert to_base36(36**4 + 5, 4) == "0005"
    assert to_base36(35, 2) == "0" + ALPHABET[35]


def test_later_cuids_sort_after_earlier_ones():
    assert format_cuid(1_700_000_000_000, 0, 0, 0) < format_cuid(1_700_000_000_001, 0, 0, 0)


@pytest.mark.django_db
def test_models_get_a_cuid_primary_key_on_create():
    permission = models.Permission.objects.create(
        key="demandes.read", label="Consulter les demandes"
    )
    organization = models.Organization.objects.create(
        name="Université de Lyon", slug="lyon", type="UNIVERSITE"
    )
    assert is_cuid(permission.pk) and is_cuid(organization.pk)
    assert permission.pk != organization.pk
    assert models.Organization.objects.get(pk=organization.pk).name == "Université de Lyon"
