"""The factories: valid rows for every model, reproducible once reseeded."""

import factory.random
import pytest

from core.cuid import is_cuid
from core.factories import BASE_TIME, SPAN
from datatransfer.registry import domain_models
from tests.factories import ALL_FACTORIES, DemandePartageFactory, PaymentFactory, UserFactory


def test_one_factory_per_domain_model():
    models = {factory_class._meta.model for factory_class in ALL_FACTORIES}
    assert models == set(domain_models())


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_factory_creates_a_valid_row(factory_class):
    instance = factory_class.create()
    instance.full_clean()
    assert factory_class._meta.model.objects.filter(pk=instance.pk).exists()
    assert BASE_TIME <= instance.created_at <= BASE_TIME + SPAN


def build_values(seed):
    factory.random.reseed_random(seed)
    users = UserFactory.build_batch(5, organization=None)
    return [
        (u.id, u.first_name, u.last_name, u.password_hash, u.created_at, u.updated_at)
        for u in users
    ]


def test_reseeding_reproduces_ids_timestamps_and_values():
    first = build_values(7)
    assert build_values(7) == first
    assert build_values(8) != first
    assert all(is_cuid(row[0]) for row in first)


@pytest.mark.django_db
def test_nullable_foreign_keys_are_sometimes_null_and_sometimes_set():
    factory.random.reseed_random(3)
    demandes = DemandePartageFactory.create_batch(12)
    assigned = {d.assigned_org_id is None for d in demandes}
    assert assigned == {True, False}
    payments = PaymentFactory.build_batch(20)
    assert {p.transaction is None for p in payments} == {True, False}


def test_data_is_french_with_accents_and_emoji():
    factory.random.reseed_random(1)
    demandes = DemandePartageFactory.build_batch(30, user=None, target_org=None, filiere=None)
    text = " ".join((d.motif or "") + str(d.metadata or "") for d in demandes)
    assert any(char in text for char in "éèàêç")
    assert any(ord(char) > 0xFFFF or char in "☀✅" for char in text)
