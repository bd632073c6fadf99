"""Imports from the admin, as django-import-export users know them: upload an export file or
an archive, read the report of its dry run (the per-table counts, then the conflicts and
errors, page by page), then confirm to import it for real. Both runs are queued and run by
the worker (`python manage.py db_worker`, see import_tasks.py), into the database the page
names, and recorded (ImportRecord) with their report, who ran them and the file's SHA-256.

Needs the permission `datatransfer.import_domain`. Registered from the package's __init__.py.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from datatransfer.admin.common import (
    REFRESH_SECONDS,
    HistoryAdmin,
    described,
    queue_context,
    state_html,
)
from datatransfer.exceptions import DataTransferError
from datatransfer.files import human_size
from datatransfer.import_files import SUFFIXES, LimitedUpload, max_size, store_upload
from datatransfer.import_tasks import queue_confirmed, queue_preview
from datatransfer.models import ImportRecord
from datatransfer.revert_tasks import (
    queue_revert_confirmed,
    queue_revert_preview,
    revert_confirmable,
    revertible,
)
from datatransfer.routers import domain_database
from datatransfer.signing import signing_key

PERMISSION = "datatransfer.import_domain"
UPLOAD_TEMPLATE = "admin/datatransfer/importrecord/upload.html"
# The conflicts and errors of a report, this many to a page.
ISSUES_PER_PAGE = 50
# The report's columns, in the order of the command line's table.
OUTCOMES = {
    "created": _("created"),
    "appended": _("appended"),
    "updated": _("updated"),
    "unchanged": _("unchanged"),
    "skipped": _("skipped"),
    "failed": _("failed"),
    "matched": _("matched"),
    "unlinked": _("unlinked"),  # written, counted above too, without a link it could not set
    # a revert's (revert_tasks.py), and an import's with --prune
    "deleted": _("deleted"),
    "restored": _("restored"),
}
ISSUE_KINDS = {"conflict": _("conflict"), "error": _("error"), "unlinked": _("unlinked")}


def can_import(user) -> bool:
    """Superusers, and active staff holding `datatransfer.import_domain`."""
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


def database_choices() -> list[tuple[str, str]]:
    """Every platform database (each alias but the project's own), the default first."""
    aliases = [alias for alias in settings.DATABASES if alias != DEFAULT_DB_ALIAS]
    aliases.sort(key=lambda alias: (alias != domain_database(), alias))
    return [(alias, described(alias)) for alias in aliases]


class UploadForm(forms.Form):
    """The file, the database it goes into (chosen each time: none is preselected, not even
    the platform database the admin exports from, which is often the source), and the
    options of `loaddomain` that change what the dry run finds."""

    file = forms.FileField(label=_("Export file or archive"))
    database = forms.ChoiceField(label=_("Into the database"))
    match = forms.ChoiceField(
        label=_("Rows matched"),
        choices=ImportRecord._meta.get_field("match").choices,
        initial="id",
        required=False,  # a form posted without it (a script) matches by id, as loaddomain
        widget=forms.RadioSelect,
        help_text=_(
            "By natural key: a row whose id is not in the database but whose natural key "
            "(a user's email, an organization's slug...) is there updates that row."
        ),
    )
    skip_audit = forms.BooleanField(
        label=_("Leave out the audit logs"),
        required=False,
        help_text=_("The audit logs of the file are not loaded."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["database"].choices = [("", "---------"), *database_choices()]
        self.fields["file"].help_text = gettext(
            "%(suffixes)s; at most %(size)s. The file is kept privately, named by its SHA-256."
        ) % {"suffixes": ", ".join(SUFFIXES), "size": human_size(max_size())}


def report_totals(report: dict) -> dict:
    """The report's totals, the outcomes it has, in OUTCOMES' order."""
    totals = report.get("totals") or {}
    return {
        key: totals[key]
        for key in OUTCOMES
        if key in totals and (key != "unlinked" or totals[key])  # a column only when some are
    }


class ImportRecordAdmin(HistoryAdmin):
    """The history of imports, read-only; a button uploads a file for its dry run, and a
    dry run's page has the report and the button that confirms it."""

    change_list_template = "admin/datatransfer/importrecord/change_list.html"
    change_form_template = "admin/datatransfer/importrecord/change_form.html"
    list_display = (
        "started",
        "state",
        "kind",
        "file_name",
        "database_column",
        "launched_by",
        "totals_column",
        "duration_column",
    )
    list_filter = ("status", "dry_run", "database")
    search_fields = ("file_name", "checksum", "user__username")
    list_select_related = ("user",)
    fields = (
        "state",
        "kind",
        "started_at",
        "duration_column",
        "launched_by",
        "database_column",
        "match",
        "skip_audit",
        "file_name",
        "size",
        "checksum",
        "run_id",
        "preview_link",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ["datatransfer/admin.css"]}

    def has_view_permission(self, request, obj=None):
        return can_import(request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return can_import(request.user) or super().has_module_permission(request)

    @admin.display(description=_("state"), ordering="status")
    def state(self, record):
        """The status; while running, the table; when failed, the error's start."""
        running = gettext("running: table %(number)s (%(table)s)") % {
            "number": record.progress_tables,
            "table": record.progress_table,
        }
        return state_html(record, running=running, kind="import")

    @admin.display(description=_("kind"), ordering="dry_run")
    def kind(self, record):
        if record.reverts_id is not None:
            return gettext("revert (dry run)") if record.dry_run else gettext("revert")
        return gettext("dry run") if record.dry_run else gettext("import")

    @admin.display(description=_("database"), ordering="database")
    def database_column(self, record):
        return format_html(
            '<span class="import-database">{}</span> <small>{}</small>',
            record.database,
            record.database_description,
        )

    @admin.display(description=_("launched by"))
    def launched_by(self, record):
        return record.user.get_username() if record.user else "-"

    @admin.display(description=_("size"), ordering="file_size")
    def size(self, record):
        return human_size(record.file_size)

    @admin.display(description=_("rows"))
    def totals_column(self, record):
        """The outcomes that are not zero: `976 created, 200 appended`."""
        parts = [
            f"{grouped(count)} {OUTCOMES[key]}"
            for key, count in report_totals(record.report).items()
            if count and key not in ("matched", "unlinked")
        ]
        return ", ".join(parts) or "-"

    @admin.display(description=_("preview"))
    def preview_link(self, record):
        if record.preview_id is None:
            return "-"
        url = reverse("admin:datatransfer_importrecord_change", args=[record.preview_id])
        return format_html('<a href="{}">{}</a>', url, gettext("its dry run"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "upload/",
                wrap(csrf_exempt(self.upload_view)),
                name="datatransfer_importrecord_upload",
            ),
            path(
                "<int:pk>/confirm/",
                wrap(self.confirm_view),
                name="datatransfer_importrecord_confirm",
            ),
            path(
                "<int:pk>/revert/",
                wrap(self.revert_view),
                name="datatransfer_importrecord_revert",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "is_nav_sidebar_enabled": False,
            "can_import": can_import(request.user),
            # Not `worker_missing`: the exports' template, extended, words it for exports.
            **queue_context(ImportRecord, worker_missing="import_worker_missing"),
        }
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        """The upload's size limit goes first among the request's upload handlers, before
        anything reads the body; the CSRF check, which reads it, comes after (Django's way
        of changing the upload handlers of a CSRF-protected view). Who may not import is
        refused before the body is read."""
        if not can_import(request.user):
            raise PermissionDenied
        limited = LimitedUpload(request)
        request.upload_handlers.insert(0, limited)
        return self.upload_form_view(request, limited)

    @method_decorator(csrf_protect)
    def upload_form_view(self, request, limited: LimitedUpload):
        """GET: the upload form; POST: keep the file and queue its dry run, then go to its
        page. A refused file (over the size limit as it arrived, or once kept) is a one-line
        error on the form, and nothing is kept."""
        form = UploadForm(request.POST or None, request.FILES or None)
        if limited.refused is not None:
            form.errors["file"] = form.error_class([str(limited.refused)])
        elif request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = queue_preview(
                    user=request.user,
                    stored=store_upload(upload),
                    file_name=upload.name,
                    database=form.cleaned_data["database"],
                    match=form.cleaned_data["match"] or "id",
                    skip_audit=form.cleaned_data["skip_audit"],
                )
            except DataTransferError as error:
                form.add_error("file", str(error))
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(name)s is uploaded and its dry run is queued: its report shows here "
                        "once the worker has run it. Nothing is written before you confirm."
                    )
                    % {"name": upload.name},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:datatransfer_importrecord_change", args=[record.pk])
                )
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import a file"),
            "opts": opts,
            "form": form,
            "signed_only": bool(signing_key()),
            "cancel_url": reverse("admin:datatransfer_importrecord_changelist"),
        }
        return TemplateResponse(request, UPLOAD_TEMPLATE, context)

    def confirm_view(self, request, pk):
        """POST: queue for real the import a dry run checked (the same bytes, the same
        database), then go to its page."""
        if not can_import(request.user):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        preview = get_object_or_404(ImportRecord, pk=pk)
        back = reverse("admin:datatransfer_importrecord_change", args=[preview.pk])
        if not confirmable(preview):
            self.message_user(request, gettext("This dry run cannot be confirmed."), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            record = queue_confirmed(preview, user=request.user)
        except DataTransferError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            gettext("The import into database %(database)s is queued: it runs in the background.")
            % {"database": described(record.database)},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:datatransfer_importrecord_change", args=[record.pk])
        )

    def revert_view(self, request, pk):
        """POST on a real import's page: queue the dry run of its revert; on that dry run's
        page: queue the revert for real. Then go to the new record's page."""
        if not can_import(request.user):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        record = get_object_or_404(ImportRecord, pk=pk)
        back = reverse("admin:datatransfer_importrecord_change", args=[record.pk])
        try:
            if revert_confirmable(record):
                queued = queue_revert_confirmed(record, user=request.user)
                message = gettext("The revert is queued: it runs in the background.")
            elif revertible(record):
                queued = queue_revert_preview(record, user=request.user)
                message = gettext(
                    "The dry run of the revert is queued: its report shows here once the "
                    "worker has run it. Nothing is written before you confirm."
                )
            else:
                self.message_user(
                    request, gettext("This import cannot be reverted."), messages.ERROR
                )
                return HttpResponseRedirect(back)
        except DataTransferError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:datatransfer_importrecord_change", args=[queued.pk])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), **report_context(request, record)}
        return super().change_view(request, object_id, form_url, extra_context)


def confirmable(record: ImportRecord) -> bool:
    """A dry run of an import that succeeded, not confirmed yet."""
    return (
        record.reverts_id is None
        and record.dry_run
        and record.status == ImportRecord.Status.SUCCEEDED
        and not record.confirmed_imports.exists()
    )


def grouped(number: int) -> str:
    return number_format(number, force_grouping=True)


def report_context(request, record: ImportRecord | None) -> dict:
    """What the record's page shows below its facts: the database, the error, the report's
    table, its notes, its conflicts and errors (a page of them), and the confirmation."""
    if record is None:
        return {}
    report = record.report or {}
    columns = list(report_totals(report))
    issues = Paginator(report.get("errors") or [], ISSUES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "record": record,
        "database": described(record.database),
        "refresh_seconds": REFRESH_SECONDS if record.status in ImportRecord.IN_PROGRESS else None,
        "columns": [OUTCOMES[key] for key in columns],
        "table_rows": [
            (key, [grouped(counts.get(column, 0)) for column in columns])
            for key, counts in (report.get("tables") or {}).items()
        ],
        "totals": [grouped(count) for count in report_totals(report).values()],
        "notes": report.get("notes") or [],
        "media_report": report.get("media"),
        "issues": issues,
        "issue_rows": [
            (ISSUE_KINDS.get(issue.get("kind"), issue.get("kind")), issue) for issue in issues
        ],
        "can_confirm": can_import(request.user) and confirmable(record),
        "confirmed": list(record.confirmed_imports.all()) if record.dry_run else [],
        "can_revert": can_import(request.user) and revertible(record),
        "can_confirm_revert": can_import(request.user) and revert_confirmable(record),
        "reverted_by": list(record.revert_runs.all()),
    }
