"""The admin of the domain models, for a superuser, on the demo data set."""

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape

from core import models
from core.demo import DOMAIN_MODELS, seed_demo

MODELS = list(DOMAIN_MODELS.values())


@pytest.fixture
def seeded(db):
    seed_demo(scale=1, seed=42, using="platform")


def url(model, view, *args):
    return reverse(f"admin:core_{model._meta.model_name}_{view}", args=args)


def test_every_domain_model_is_registered():
    assert set(MODELS) <= set(admin.site._registry)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_lists_the_rows(admin_client, seeded, model):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    shown = response.context["cl"].result_list
    assert len(shown) == min(50, model.objects.count())
    assert url(model, "change", shown[0].pk) in response.content.decode()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_opens(admin_client, seeded, model):
    instance = model.objects.order_by("pk").last()
    response = admin_client.get(url(model, "change", instance.pk))
    assert response.status_code == 200
    assert escape(str(instance)) in response.content.decode()


@pytest.mark.parametrize(
    "model", [m for m in MODELS if admin.site._registry[m].search_fields], ids=lambda m: m.__name__
)
def test_search_answers_any_text(admin_client, seeded, model):
    for term in ("École", "42", "cl"):
        assert admin_client.get(url(model, "changelist"), {"q": term}).status_code == 200


def test_search_finds_a_user_by_email(admin_client, seeded):
    user = models.User.objects.order_by("pk")[3]
    response = admin_client.get(url(models.User, "changelist"), {"q": user.email})
    assert list(response.context["cl"].result_list) == [user]


def test_secrets_never_appear_in_pages(admin_client, seeded):
    user = models.User.objects.exclude(password_hash="").first()
    invite = models.OrganizationInvite.objects.first()
    pages = [
        admin_client.get(url(models.User, "changelist")),
        admin_client.get(url(models.User, "change", user.pk)),
        admin_client.get(url(models.OrganizationInvite, "changelist")),
        admin_client.get(url(models.OrganizationInvite, "change", invite.pk)),
    ]
    html = "".join(page.content.decode() for page in pages)
    assert user.password_hash not in html
    assert invite.token not in html
    assert "(set, 60 characters)" in html and "(set, 64 characters)" in html


def test_no_foreign_key_is_a_dropdown_of_every_row():
    for model in MODELS:
        model_admin = admin.site._registry[model]
        pickers = set(model_admin.autocomplete_fields) | set(model_admin.raw_id_fields)
        for field in model._meta.get_fields():
            if (field.many_to_one or field.many_to_many) and field.concrete:
                assert field.name in pickers, f"{model.__name__}.{field.name}"


def test_changelists_join_the_foreign_keys_they_show():
    for model in MODELS:
        model_admin = admin.site._registry[model]
        shown = {
            name
            for name in model_admin.list_display
            if isinstance(name, str) and hasattr(model, name) and name in _foreign_keys(model)
        }
        assert shown <= set(model_admin.list_select_related or ()), model.__name__


def _foreign_keys(model):
    return {
        field.name for field in model._meta.get_fields() if field.many_to_one and field.concrete
    }


def test_changelist_queries_do_not_grow_with_the_rows(
    admin_client, seeded, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        assert admin_client.get(url(models.DemandePartage, "changelist")).status_code == 200


def test_autocomplete_searches_organizations(admin_client, seeded):
    organization = models.Organization.objects.order_by("pk").first()
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "core",
            "model_name": "user",
            "field_name": "organization",
            "term": organization.name,
        },
    )
    assert response.status_code == 200
    assert {"id": organization.pk, "text": organization.name} in response.json()["results"]


def test_an_invite_added_in_the_admin_gets_a_token(admin_client, seeded):
    organization = models.Organization.objects.first()
    response = admin_client.post(
        url(models.OrganizationInvite, "add"),
        {
            "organization": organization.pk,
            "email": "eloise.peyrac@example.fr",
            "role": "USER",
            "status": "PENDING",
            "expires_at_0": "2025-03-01",
            "expires_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    invite = models.OrganizationInvite.objects.get(email="eloise.peyrac@example.fr")
    assert len(invite.token) == 64


def test_audit_log_is_read_only(admin_client, seeded):
    log = models.AuditLog.objects.exclude(action="DELETE").first()
    assert admin_client.get(url(models.AuditLog, "add")).status_code == 403
    response = admin_client.post(url(models.AuditLog, "change", log.pk), {"action": "DELETE"})
    assert response.status_code == 403
    assert models.AuditLog.objects.get(pk=log.pk).action == log.action
