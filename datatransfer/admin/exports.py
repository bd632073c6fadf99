"""Exports from the admin: an action on organizations, a whole-database export, and the
history of every export with its state and a link to download its file. The exports are
queued and run by the worker (`python manage.py db_worker`, see tasks.py) with an
ExportJob, the code path of `dumpdomain`."""

import hashlib
from pathlib import Path

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from datatransfer.admin.common import (
    HistoryAdmin,
    described,
    queue_context,
    state_html,
)
from datatransfer.exceptions import DataTransferError
from datatransfer.files import human_size
from datatransfer.models import ExportRecord
from datatransfer.registry import subset_root_table
from datatransfer.retention import delete_export_file, export_file
from datatransfer.routers import domain_database
from datatransfer.subset import subset_counts
from datatransfer.tasks import queue_export

PERMISSION = "datatransfer.export_domain"
DELETE_PERMISSION = "datatransfer.delete_export_file"
DELETE_CONFIRMATION_TEMPLATE = "admin/datatransfer/exportrecord/delete_file_confirmation.html"
# The history's list names this many organizations of a subset export, then how many more.
SCOPE_SHOWN = 3
CONFIRMATION_TEMPLATE = "admin/datatransfer/export_confirmation.html"


def can_export(user) -> bool:
    """Superusers, and active staff holding `datatransfer.export_domain`."""
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


def can_delete_files(user) -> bool:
    """Superusers, and active staff holding `datatransfer.delete_export_file`."""
    return user.is_active and user.is_staff and user.has_perm(DELETE_PERMISSION)


def open_as_recorded(record: ExportRecord, file: Path):
    """The open file when its size and SHA-256 are those the history recorded, else None
    (closed). The handle that was checked is the one served, so a file swapped after the
    check is never what goes out."""
    handle = open(file, "rb")
    digest, size = hashlib.sha256(), 0
    while block := handle.read(1 << 20):
        digest.update(block)
        size += len(block)
    if not record.checksum or size != record.file_size or digest.hexdigest() != record.checksum:
        handle.close()
        return None
    handle.seek(0)
    return handle


def _queue(request, modeladmin, *, organizations=()) -> HttpResponseRedirect:
    """Queue the export the confirmation page asked for (the worker runs it) and go to the
    history, where it shows its state and, once done, its file. A DataTransferError is the
    user's to read, never a 500."""
    try:
        queue_export(
            user=request.user,
            organizations=organizations,
            exclude_secrets=bool(request.POST.get("exclude_secrets")),
            with_media=bool(request.POST.get("include_media")),
            anonymize=bool(request.POST.get("anonymize")),
        )
    except DataTransferError as error:
        modeladmin.message_user(
            request,
            gettext("The export could not be queued: %(error)s") % {"error": error},
            messages.ERROR,
        )
    else:
        modeladmin.message_user(
            request,
            gettext(
                "The export is queued: it runs in the background, and its file is here once "
                "it is done."
            ),
            messages.SUCCESS,
        )
    return HttpResponseRedirect(reverse("admin:datatransfer_exportrecord_changelist"))


def _subset_counts(request, modeladmin, organizations):
    """What the organizations' export will write, per table (None after an error message)."""
    try:
        return subset_counts([o.slug for o in organizations])
    except DataTransferError as error:
        modeladmin.message_user(request, str(error), messages.ERROR)
        return None


def _confirmation(request, modeladmin, *, title, intro, organizations=(), action=""):
    opts = modeladmin.model._meta
    counts = _subset_counts(request, modeladmin, organizations) if organizations else None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        # The database read, as the commands name it: alias (engine host:port/dbname).
        "source": described(domain_database()),
        "opts": opts,
        "organizations": organizations,
        "counts": counts,
        "total_rows": sum(c.rows for c in counts or ()),
        "total_others": sum(c.others for c in counts or ()),
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)


@admin.action(
    description=_("Export selected organizations with their data"), permissions=["export_domain"]
)
def export_domain(modeladmin, request, queryset):
    """Ask for confirmation (the file holds secrets), then queue the export of the
    organizations' subset (their rows and every row those reference) and go to the history.

    Queued like the whole database: a subset can be most of it (a large organization), and a
    download that waits on the export is cut by any proxy's timeout."""
    if request.POST.get("confirm") == "yes":
        name = subset_root_table().subset_root.attname  # the organizations' slug
        return _queue(
            request, modeladmin, organizations=list(queryset.values_list(name, flat=True))
        )
    return _confirmation(
        request,
        modeladmin,
        title=_("Export organizations with their data"),
        intro=_(
            "These organizations, every row that belongs to them and every row those rows "
            "reference will be written to one file, which loaddomain loads into an empty database:"
        ),
        organizations=queryset.order_by("name"),
        action="export_domain",
    )


def add_export_action(site: admin.AdminSite) -> None:
    """Add `export_domain` to the actions of the organizations' admin on `site` (core's,
    which knows nothing of the transfer app), for those allowed to export."""
    root = subset_root_table().model
    if not site.is_registered(root):
        return
    model_admin = site.get_model_admin(root)
    model_admin.actions = [*model_admin.actions, export_domain]
    model_admin.has_export_domain_permission = lambda request: can_export(request.user)


def _delete_files(request, modeladmin, records) -> None:
    """Delete the records' files (those the admin may delete) and say how many, and which
    could not be deleted."""
    who = f"admin: {request.user.get_username()}"  # stored: never translated
    deleted, failed = 0, []
    for record in records:
        try:
            deleted += delete_export_file(record, by=who)
        except OSError as error:
            failed.append(f"{record.file_name}: {error.strerror or error}")
    modeladmin.message_user(
        request,
        ngettext(
            "Deleted %(count)s export file; its history stays.",
            "Deleted %(count)s export files; their history stays.",
            deleted,
        )
        % {"count": deleted},
        messages.SUCCESS,
    )
    if failed:
        modeladmin.message_user(
            request,
            gettext("Not deleted: %(files)s") % {"files": "; ".join(failed)},
            messages.ERROR,
        )


def _delete_confirmation(request, modeladmin, records, *, action=""):
    """The page asking to confirm the deletion of the records' files (those that exist)."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Delete export files"),
        "opts": opts,
        "records": [record for record in records if export_file(record)],
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": reverse("admin:datatransfer_exportrecord_changelist"),
    }
    return TemplateResponse(request, DELETE_CONFIRMATION_TEMPLATE, context)


@admin.action(
    description=_("Delete the selected exports' files"), permissions=["delete_export_file"]
)
def delete_files(modeladmin, request, queryset):
    """Ask for confirmation, then delete the files of the selected exports; their history
    rows stay, marked."""
    if request.POST.get("confirm") == "yes":
        _delete_files(request, modeladmin, queryset)
        return None
    return _delete_confirmation(request, modeladmin, queryset, action="delete_files")


@admin.register(ExportRecord)
class ExportRecordAdmin(HistoryAdmin):
    """The history of exports, read-only; a button queues a whole-database export, an
    action (and a button on each export's page) deletes export files."""

    change_list_template = "admin/datatransfer/exportrecord/change_list.html"
    change_form_template = "admin/datatransfer/exportrecord/change_form.html"
    actions = [delete_files]
    # The file comes third, with its size: its download link stays in sight on a laptop's
    # screen (the page also leaves the navigation sidebar out: see changelist_view).
    list_display = (
        "started",
        "state",
        "file_column",
        "scope_column",
        "database_column",
        "launched_by",
        "rows",
        "duration_column",
    )
    list_filter = ("status", "database", "secrets_excluded", "anonymized")
    search_fields = ("file_path", "command", "user__username", "checksum")
    list_select_related = ("user",)
    # The detail page (read-only): one line per fact, the rows per table as a table.
    fields = (
        "state",
        "started_at",
        "queued_at",
        "duration_column",
        "launched_by",
        "database_column",
        "scope",
        "excluded",
        "secrets_excluded",
        "anonymized",
        "with_media",
        "rows",
        "rows_per_table",
        "download",
        "size",
        "checksum",
        "error",
    )
    readonly_fields = (
        "state",
        "duration_column",
        "launched_by",
        "database_column",
        "scope",
        "excluded",
        "rows",
        "rows_per_table",
        "download",
        "size",
    )

    class Media:
        css = {"all": ["datatransfer/admin.css"]}

    def has_view_permission(self, request, obj=None):
        user = request.user
        return (
            can_export(user) or can_delete_files(user) or super().has_view_permission(request, obj)
        )

    def has_module_permission(self, request):
        user = request.user
        return can_export(user) or can_delete_files(user) or super().has_module_permission(request)

    def has_delete_export_file_permission(self, request):
        return can_delete_files(request.user)

    @admin.display(description=_("state"), ordering="status")
    def state(self, record):
        """The status; while running, the progress; when failed, the error on hover."""
        running = gettext("running: %(rows)s rows written, table %(number)s (%(table)s)") % {
            "rows": number_format(record.progress_rows, force_grouping=True),
            "number": record.progress_tables,
            "table": record.progress_table,
        }
        return state_html(record, running=running, kind="export")

    @admin.display(description=_("scope"))
    def scope(self, record):
        return record.scope

    @admin.display(description=_("scope"))
    def scope_column(self, record):
        """The scope, naming at most SCOPE_SHOWN organizations (the detail page has all)."""
        if len(record.organizations) <= SCOPE_SHOWN:
            return record.scope
        shown = ", ".join(record.organizations[:SCOPE_SHOWN])
        more = len(record.organizations) - SCOPE_SHOWN
        return ngettext("%(shown)s and %(more)s more", "%(shown)s and %(more)s more", more) % {
            "shown": shown,
            "more": more,
        }

    @admin.display(description=_("database"), ordering="database")
    def database_column(self, record):
        """The alias; where it pointed (host, database name) on hover."""
        return format_html(
            '<span title="{}">{}</span>', record.database_description, record.database
        )

    @admin.display(description=_("excluded tables"))
    def excluded(self, record):
        return ", ".join(record.excluded_tables) or "-"

    @admin.display(description=_("rows per table"))
    def rows_per_table(self, record):
        """The table of rows per table, in the file's order."""
        if not record.table_counts:
            return "-"
        return format_html(
            '<table class="export-table-counts"><thead><tr><th>{}</th><th class="numeric">{}</th>'
            "</tr></thead>"
            "<tbody>{}</tbody></table>",
            gettext("table"),
            gettext("rows"),
            format_html_join(
                "",
                '<tr><td>{}</td><td class="numeric">{}</td></tr>',
                (
                    (key, number_format(count, force_grouping=True))
                    for key, count in record.table_counts.items()
                ),
            ),
        )

    @admin.display(description=_("launched by"))
    def launched_by(self, record):
        if record.user:
            return record.user.get_username()
        return (
            " ".join(
                part
                for part in (
                    record.command,
                    f"({record.system_user})" if record.system_user else "",
                )
                if part
            )
            or "-"
        )

    @admin.display(description=_("rows"), ordering="total_rows")
    def rows(self, record):
        if record.status != ExportRecord.Status.SUCCEEDED:
            return "-"
        return number_format(record.total_rows, force_grouping=True)

    @admin.display(description=_("size"), ordering="file_size")
    def size(self, record):
        return human_size(record.file_size) if record.file_size is not None else "-"

    @admin.display(description=_("file"))
    def download(self, record):
        """A link to download the file; its name alone when it is not served (elsewhere than
        EXPORTS_DIR, or gone); when deleted, when and by whom; `-` when none was written. The
        full path on hover."""
        if export_file(record):
            url = reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
            return format_html(
                '<a href="{}" class="export-download" title="{}">{}</a>',
                url,
                record.file_path,
                record.file_name,
            )
        if record.file_deleted_at:
            deleted = gettext("deleted on %(date)s by %(who)s") % {
                "date": date_format(timezone.localtime(record.file_deleted_at), "Y-m-d H:i"),
                "who": record.file_deleted_by,
            }
            return format_html(
                '<span class="export-deleted" title="{}">{}<br><small>{}</small></span>',
                record.file_path,
                record.file_name,
                deleted,
            )
        if record.status != ExportRecord.Status.SUCCEEDED or not record.file_name:
            return "-"  # no file was written (or not yet)
        return format_html(
            '<span class="export-file" title="{}">{}</span>', record.file_path, record.file_name
        )

    @admin.display(description=_("file"), ordering="file_size")
    def file_column(self, record):
        """The file (see `download`) and, while it exists, its size."""
        if record.file_size is None or record.file_deleted_at:
            return self.download(record)
        return format_html(
            "{}<br><small>{}</small>", self.download(record), human_size(record.file_size)
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(self.export_view), name="datatransfer_exportrecord_export"),
            path(
                "<int:pk>/download/",
                wrap(self.download_view),
                name="datatransfer_exportrecord_download",
            ),
            path(
                "<int:pk>/delete-file/",
                wrap(self.delete_file_view),
                name="datatransfer_exportrecord_delete_file",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        """The list, refreshed every few seconds while an export is queued or running, with
        a warning when one has waited long enough to suspect that no worker runs."""
        extra_context = {
            **(extra_context or {}),
            # A wide table: the whole window's width for it, and no sideways scrolling.
            "is_nav_sidebar_enabled": False,
            "can_export": can_export(request.user),
            **queue_context(ExportRecord),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        """GET: the confirmation page; POST: queue the whole database and go to the history."""
        if not can_export(request.user):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            return _queue(request, self)
        return _confirmation(
            request,
            self,
            title=_("Export the whole database"),
            intro=_("Every table of the domain will be written to one file."),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_delete_file": bool(
                record and can_delete_files(request.user) and export_file(record)
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_file_view(self, request, pk):
        """GET: the confirmation page; POST: delete this export's file, back to its page."""
        if not can_delete_files(request.user):
            raise PermissionDenied
        record = get_object_or_404(ExportRecord, pk=pk)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            _delete_files(request, self, [record])
            return HttpResponseRedirect(
                reverse("admin:datatransfer_exportrecord_change", args=[record.pk])
            )
        return _delete_confirmation(request, self, [record])

    def download_view(self, request, pk):
        """The record's file, once checked against the size and SHA-256 recorded when it
        was written; a file changed since is refused with an error message."""
        if not can_export(request.user):
            raise PermissionDenied
        record = get_object_or_404(ExportRecord, pk=pk)
        file = export_file(record)
        if file is None:
            raise Http404(gettext("This export's file no longer exists."))
        handle = open_as_recorded(record, file)
        if handle is None:
            self.message_user(
                request,
                gettext(
                    "The file %(name)s was changed since it was written (its size or SHA-256 "
                    "is not the one recorded): it is not served."
                )
                % {"name": record.file_name},
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:datatransfer_exportrecord_changelist"))
        return FileResponse(handle, as_attachment=True, filename=file.name)
