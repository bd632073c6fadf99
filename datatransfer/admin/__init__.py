"""The transfer's admin: exports (an action on the subset root's model, a whole-database
export, the history of every export: exports.py), imports (upload, dry run, confirm, the
history of every import: imports.py), and what both histories share (common.py)."""

from django.contrib import admin
from django_tasks_db.models import DBTaskResult

from datatransfer.admin.exports import ExportRecordAdmin, add_export_action
from datatransfer.admin.imports import ImportRecordAdmin
from datatransfer.models import ImportRecord

__all__ = ["ExportRecordAdmin", "ImportRecordAdmin", "add_export_action"]

admin.site.register(ImportRecord, ImportRecordAdmin)

# The task queue's own admin page (django-tasks-db) is left out: the history shows each
# export's state, the worker's log has the tracebacks, and its labels have no translation.
if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)
