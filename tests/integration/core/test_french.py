"""The admin in French: every model, field and choice of the project has a verbose name with
a French translation (core/locale, datatransfer/locale), and the admin rendered in French
shows no English model name, column header or choice."""

import io
import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.db import models
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import trans_real

PROJECT_APPS = ("core", "datatransfer")


class VisibleText(HTMLParser):
    """The text a reader sees: no tags, attributes, scripts or styles."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style", "template")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style", "template")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def without_rows(html: str) -> str:
    """A changelist without its rows: their values are data (an audit log's `entity` is
    `Organization`), not labels."""
    return re.sub(r'(id="result_list".*?)<tbody>.*?</tbody>', r"\1", html, flags=re.DOTALL)


def project_models():
    return [model for label in PROJECT_APPS for model in apps.get_app_config(label).get_models()]


def named_fields(model):
    """The fields an admin may show: every concrete field and many-to-many of the model."""
    return [
        field
        for field in model._meta.get_fields()
        if field.concrete
        and not field.auto_created
        and not isinstance(field, models.CompositePrimaryKey)
    ]


def translatable_names():
    """(what, lazy string) for every model name, field name and choice of the project."""
    for model in project_models():
        yield f"{model.__name__} verbose_name", model._meta.verbose_name
        yield f"{model.__name__} verbose_name_plural", model._meta.verbose_name_plural
        for field in named_fields(model):
            yield f"{model.__name__}.{field.name}", field.verbose_name
            for _value, label in field.choices or ():
                yield f"{model.__name__}.{field.name} choice", label


def catalog_key(lazy) -> str:
    """The key of a lazy string in a translation catalog (`context\\x04message` with a
    context)."""
    args = lazy._args
    return f"{args[0]}\x04{args[1]}" if len(args) == 2 else args[0]


def english(text) -> str:
    with translation.override("en"):
        return str(text)


@pytest.mark.e2e
def test_every_model_field_and_choice_has_a_translated_verbose_name():
    french = trans_real.translation("fr")._catalog
    untranslated = [what for what, name in translatable_names() if not isinstance(name, Promise)]
    assert not untranslated, f"plain strings, not gettext_lazy: {untranslated}"
    missing = [
        f"{what}: {english(name)!r}"
        for what, name in translatable_names()
        if catalog_key(name) not in french
    ]
    assert not missing, f"no French translation: {missing}"
    assert english(apps.get_app_config("core").verbose_name) == "Domain"
    with translation.override("fr"):
        assert str(apps.get_app_config("core").verbose_name) == "Domaine"


def english_names():
    """The English model names of the admin that French spells otherwise, longest first."""
    names = set()
    for model in admin.site._registry:
        for name in (model._meta.verbose_name, model._meta.verbose_name_plural):
            with translation.override("fr"):
                translated = str(name)
            if english(name).lower() != translated.lower():
                names.add(english(name))
    return sorted(names, key=len, reverse=True)


@pytest.mark.django_db
def test_the_admin_in_french_shows_no_english_model_name_header_or_choice(admin_client):
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    french = {"accept-language": "fr"}
    pages = {"index": admin_client.get(reverse("admin:index"), headers=french)}
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        pages[opts.label] = admin_client.get(url, headers=french)
    names = english_names()
    assert "organizations" in names and "audit log" in names
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE)
    for page, response in pages.items():
        assert response.status_code == 200, page
        text = visible_text(without_rows(response.content.decode()))
        found = pattern.findall(text)
        assert not found, f"{page}: English names {sorted(set(found))} in {text[:300]}"

    organizations = visible_text(pages["core.Organization"].content.decode())
    assert "Supprimer les organisations sélectionné" in organizations
    assert "Exporter les organisations sélectionnées avec leurs données" in organizations
    index = visible_text(pages["index"].content.decode())
    assert "Domaine" in index and "Journal d’audit" in index and "Filières" in index


@pytest.mark.django_db
def test_column_headers_and_choices_of_the_domain_are_in_french(admin_client):
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    french = {"accept-language": "fr"}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        html = admin_client.get(url, headers=french).content.decode()
        if 'id="result_list"' not in html:
            continue  # no row: no table
        header = html[html.index('id="result_list"') :]
        header = visible_text(header[: header.index("</thead>")])
        for name in model_admin.list_display:
            field = next((f for f in named_fields(model) if f.name == name), None)
            if field is None:
                continue
            with translation.override("fr"):
                translated = str(field.verbose_name)
            if translated.lower() != english(field.verbose_name).lower():
                assert capfirst(translated) in header, (opts.label, name, header)
                assert capfirst(english(field.verbose_name)) not in header
    users = admin_client.get(reverse("admin:core_user_changelist"), headers=french)
    assert "Utilisateur" in visible_text(users.content.decode())  # Role.USER's label
