"""The domain models: the existing database's constraints and timestamps."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from core import models
from core.fields import now_ms
from tests.factories import (
    AuditLogFactory,
    DepartmentFactory,
    DocumentPartageFactory,
    OrganizationFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def refused(create):
    """Tell whether the database refuses what `create` writes."""
    try:
        with transaction.atomic(using="platform"):
            create()
    except IntegrityError:
        return True
    return False


def test_organization_slug_is_unique():
    OrganizationFactory(slug="universite-de-nantes")
    assert refused(lambda: OrganizationFactory(slug="universite-de-nantes"))
    assert not refused(lambda: OrganizationFactory(slug="universite-de-nantes-2"))


def test_user_email_is_unique():
    UserFactory(email="chloe.lefevre@orange.fr")
    assert refused(lambda: UserFactory(email="chloe.lefevre@orange.fr"))


def test_department_code_is_unique_within_its_organization():
    department = DepartmentFactory(code="MATH")
    assert refused(lambda: DepartmentFactory(organization=department.organization, code="MATH"))
    assert not refused(lambda: DepartmentFactory(code="MATH"))  # another organization


def test_payment_reference_is_unique_per_provider():
    PaymentFactory(provider="wave", provider_ref="T-0001")
    assert refused(lambda: PaymentFactory(provider="wave", provider_ref="T-0001"))
    assert not refused(lambda: PaymentFactory(provider="orange_money", provider_ref="T-0001"))


def test_code_adn_is_unique_but_may_be_null_many_times():
    DocumentPartageFactory(code_adn="ADN0001")
    assert refused(lambda: DocumentPartageFactory(code_adn="ADN0001"))
    DocumentPartageFactory(code_adn=None)
    DocumentPartageFactory(code_adn=None)
    assert models.DocumentPartage.objects.filter(code_adn=None).count() == 2


def test_nullable_foreign_keys_accept_null():
    user = UserFactory(organization=None)
    organization = OrganizationFactory(owner=None)
    payment = PaymentFactory(transaction=None, demande_partage=None, abonnement=None)
    log = AuditLogFactory(user=None)
    for instance in (user, organization, payment, log):
        instance.refresh_from_db()
    assert user.organization is None and organization.owner is None
    assert payment.transaction is None and log.user is None


def test_organization_owner_and_user_organization_form_a_cycle():
    organization = OrganizationFactory(owner=None)
    user = UserFactory(organization=organization)
    organization.owner = user
    organization.save()
    assert models.Organization.objects.get(owner__organization=organization) == organization


def test_save_refreshes_updated_at_and_keeps_created_at():
    created = datetime(2023, 5, 2, 8, 30, tzinfo=UTC)
    user = UserFactory(created_at=created, updated_at=created)
    before = now_ms()
    user.first_name = "Léa"
    user.save()
    user.refresh_from_db()
    assert user.created_at == created
    assert user.updated_at >= before
    # update_fields saves updated_at too.
    models.User.objects.filter(pk=user.pk).update(updated_at=created)
    user.save(update_fields=["first_name"])
    assert models.User.objects.get(pk=user.pk).updated_at >= before


def test_bulk_create_keeps_the_given_timestamps():
    moment = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    user = UserFactory.build(
        organization=None, created_at=moment, updated_at=moment + timedelta(days=1)
    )
    models.User.objects.bulk_create([user])
    stored = models.User.objects.get(pk=user.pk)
    assert (stored.created_at, stored.updated_at) == (moment, moment + timedelta(days=1))


def test_audit_log_ids_increase_automatically():
    first = models.AuditLog.objects.create(action="LOGIN", entity="User")
    second = models.AuditLog.objects.create(action="LOGOUT", entity="User")
    assert isinstance(first.id, int)
    assert second.id == first.id + 1
