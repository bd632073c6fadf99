"""What the two histories of the admin share (exports, imports): read-only pages, a
record's state, the page refreshing itself while a run is queued or running, and how a
duration reads."""

import datetime as dt

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from datatransfer.databases import describe
from datatransfer.models import ExportRecord

# The history's list shows this many characters of a failed run's error (all on hover).
ERROR_SHOWN = 160
# The history reloads itself this often while a run is queued or running.
REFRESH_SECONDS = 3
# A queued run still waiting after this long: the history asks whether a worker runs.
WORKER_SUSPECTED_AFTER = dt.timedelta(minutes=1)


def human_duration(seconds: float) -> str:
    """A duration as people write it: `0.3 s`, `12.4 s`, `2 min 05 s`, `1 h 02 min` (the
    decimal separator of the active language)."""
    if round(seconds, 1) < 60:
        return f"{number_format(round(seconds, 1), 1)} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def state_html(record, *, running: str, kind: str):
    """A record's status (an export's or an import's: `kind`) as the history shows it:
    `running` while running with a current table; when failed, the start of its error
    below and all of it on hover."""
    text = record.get_status_display()
    if record.status == ExportRecord.Status.RUNNING and record.progress_table:
        text = running
    if record.status == ExportRecord.Status.FAILED and record.error:
        short = Truncator(record.error.splitlines()[0]).chars(ERROR_SHOWN)
        text = format_html("{}<br><small>{}</small>", text, short)
    return format_html(
        '<span class="{}-state export-{}" title="{}">{}</span>',
        kind,
        record.status,
        record.error,
        text,
    )


def queue_context(model, *, worker_missing: str = "worker_missing") -> dict:
    """For a history's list (exports or imports: `model`): `refresh_seconds` while a run is
    queued or running, and under the name `worker_missing` whether one has waited long
    enough to suspect that no worker runs."""
    in_progress = model.objects.filter(status__in=model.IN_PROGRESS)
    waiting_since = timezone.now() - WORKER_SUSPECTED_AFTER
    return {
        "refresh_seconds": REFRESH_SECONDS if in_progress.exists() else None,
        worker_missing: in_progress.filter(
            status=model.Status.QUEUED, queued_at__lt=waiting_since
        ).exists(),
    }


class HistoryAdmin(admin.ModelAdmin):
    """A history (exports, imports): written by the jobs, never added, edited or deleted
    from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("started at"), ordering="started_at")
    def started(self, record):
        return date_format(timezone.localtime(record.started_at), "Y-m-d H:i")

    @admin.display(description=_("duration"), ordering="duration")
    def duration_column(self, record):
        if record.duration is None:
            return "-"
        return human_duration(record.duration.total_seconds())


def described(alias: str) -> str:
    """`alias (where it points)`, never a password."""
    try:
        return f"{alias} ({describe(alias)})"
    except KeyError:
        return alias
