"""The transfer declarations (datatransfer/declarations.py) as the registry reads them:
what the 16 models declare, the defaults, and the declarations it refuses."""

from dataclasses import replace

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.models import Configuration, Department, DocumentPartage, Organization, User
from datatransfer.declarations import Transfer
from datatransfer.exceptions import DataTransferError
from datatransfer.registry import (
    audit_log_keys,
    build_tables,
    domain_models,
    domain_tables,
    excluded_keys,
    subset_root_table,
    table_key,
    tables_by_key,
)


def declared(table) -> dict:
    """What a table spec holds of its declaration, as file keys."""
    return {
        "secrets": sorted(table.secret_keys),
        "natural_key": [spec.key for spec in table.natural_key],
        "file_fields": [spec.key for spec in table.file_fields],
        "subset_root": table.subset_root.key if table.subset_root else None,
        "policy": table.policy,
        "audit_log": table.audit_log,
    }


def test_the_registry_reads_what_the_models_declare():
    tables = tables_by_key()
    nothing = declared(tables["contactMessages"])
    assert nothing == {
        "secrets": [],
        "natural_key": [],
        "file_fields": [],
        "subset_root": None,
        "policy": "upsert",
        "audit_log": False,
    }
    assert declared(tables["users"]) == {
        **nothing,
        "secrets": ["passwordHash"],
        "natural_key": ["email"],
    }
    assert declared(tables["organizationInvites"]) == {**nothing, "secrets": ["token"]}
    assert declared(tables["documentPartages"]) == {**nothing, "file_fields": ["filePath"]}
    assert declared(tables["organizations"]) == {
        **nothing,
        "natural_key": ["slug"],
        "subset_root": "slug",
    }
    assert declared(tables["auditLogs"]) == {**nothing, "policy": "append-only", "audit_log": True}
    assert [m.key for m in tables["users"].many_to_many] == ["permissionKeys"]
    assert subset_root_table() is tables["organizations"]
    assert audit_log_keys() == ["auditLogs"]


def test_a_table_to_leave_out_is_named_by_file_key_or_model_label():
    assert excluded_keys(["auditLogs", "CORE.user", "core.Permission"]) == {
        "auditLogs",
        "users",
        "permissions",
    }
    with pytest.raises(DataTransferError, match=r"to exclude: nope, users2\. Valid names: perm"):
        excluded_keys(["users2", "nope", "users"])


@pytest.fixture
def declare(monkeypatch):
    """Return a function that changes a model's declaration for one test; the cached file
    keys are forgotten before and after."""
    table_key.cache_clear()

    def change(model, **parts):
        monkeypatch.setattr(model, "transfer", replace(model.transfer, **parts))

    yield change
    monkeypatch.undo()
    table_key.cache_clear()


def test_a_file_key_is_declared_or_made_from_the_model_name(declare, monkeypatch):
    monkeypatch.delattr(DocumentPartage, "transfer")
    assert table_key(DocumentPartage) == "documentPartages"
    declare(Configuration, file_key="settingEntries")
    keys = [table.key for table in build_tables(domain_models())]
    assert "settingEntries" in keys and "configurations" not in keys


@pytest.mark.parametrize(
    "model, parts, message",
    [
        (User, {"secrets": ("password",)}, "core.User.transfer secrets: 'password' is not a col"),
        (User, {"file_fields": ("permissions",)}, "file_fields: 'permissions' is not a column"),
        (Department, {"natural_key": ("code",)}, r"natural_key \('code',\) is not a unique key"),
        (Department, {"subset_root": "code"}, "subset_root 'code' is not a unique field"),
        (User, {"subset_root": "email"}, "core.Organization, core.User each declare a subset_r"),
        (Configuration, {"file_key": "users"}, "core.Configuration, core.User have the same file"),
    ],
)
def test_a_declaration_the_registry_cannot_follow_is_refused(declare, model, parts, message):
    declare(model, **parts)
    with pytest.raises(ImproperlyConfigured, match=message):
        build_tables(domain_models())


def test_a_declaration_must_be_a_transfer(monkeypatch):
    monkeypatch.setattr(Organization, "transfer", {"natural_key": ("slug",)})
    with pytest.raises(ImproperlyConfigured, match="core.Organization.transfer is not a"):
        build_tables(domain_models())


def test_without_a_subset_root_there_is_no_subset(monkeypatch):
    monkeypatch.setattr(Organization, "transfer", Transfer(natural_key=("slug",)))
    domain_tables.cache_clear()
    try:
        with pytest.raises(DataTransferError, match="No domain model declares a subset_root"):
            subset_root_table()
    finally:
        monkeypatch.undo()
        domain_tables.cache_clear()
