"""core is the platform's models and their admin: the transfer app depends on it, never
the other way round."""

import ast
from pathlib import Path

from django.contrib import admin

from core.models import Organization

CORE_ADMIN = Path(__file__).resolve().parents[3] / "core" / "admin.py"


def test_core_admin_does_not_import_the_transfer_app():
    tree = ast.parse(CORE_ADMIN.read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.startswith("datatransfer")]


def test_the_transfer_app_adds_its_export_action_to_the_organizations_admin():
    actions = admin.site.get_model_admin(Organization).actions
    assert "export_domain" in [action.__name__ for action in actions]
