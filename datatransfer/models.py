"""The history: one ExportRecord per export, from the admin or the command line, and one
ImportRecord per import from the admin."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def admin_user_field(*, related_name: str) -> models.ForeignKey:
    """Who ran it in the admin (none for a command-line run); kept when the user goes."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("admin user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
    )


class Run(models.Model):
    """What every run of the history has: when (queued at, for one queued in the admin,
    until it starts), how long, its task in the worker, its state, why it failed, and the
    database it read or wrote."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("done")
        FAILED = "failed", _("failed")
        INTERRUPTED = "interrupted", _("interrupted")

    IN_PROGRESS = (Status.QUEUED, Status.RUNNING)

    started_at = models.DateTimeField(_("started at"), db_index=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    task_id = models.CharField(_("task"), max_length=64, blank=True)
    duration = models.DurationField(_("duration"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    error = models.TextField(_("error"), blank=True)
    database = models.CharField(_("database"), max_length=100)
    # Where the alias pointed at the time, without secrets: `postgresql host:5432/name`.
    database_description = models.CharField(_("database server"), max_length=500, blank=True)
    # The process running it (leftovers.owner()): once that process has ended, a record
    # still running is marked interrupted by the next sweep (leftovers.py).
    owner = models.CharField(_("process"), max_length=40, blank=True)

    class Meta:
        abstract = True


class ExportRecord(Run):
    """Who or what ran an export, when, of what, and the file it wrote (or why it failed, or
    that it was interrupted).

    An export asked for in the admin is queued first (a task run by `db_worker`), then
    running, with its progress; a command-line run is recorded running from its start."""

    user = admin_user_field(related_name="domain_exports")
    command = models.CharField(_("command"), max_length=200, blank=True)
    system_user = models.CharField(_("system user"), max_length=150, blank=True)
    # Empty: the whole database; otherwise the slugs of the organizations exported.
    organizations = models.JSONField(_("organizations"), default=list, blank=True)
    excluded_tables = models.JSONField(_("excluded tables"), default=list, blank=True)
    secrets_excluded = models.BooleanField(_("secrets excluded"), default=False)
    with_media = models.BooleanField(_("uploaded files included"), default=False)
    # Personal fields masked (docs/masking.md): a file fit for a staging database.
    anonymized = models.BooleanField(_("anonymized"), default=False)
    # While running: the table being written, how many tables were started, rows written.
    progress_table = models.CharField(_("current table"), max_length=100, blank=True)
    progress_tables = models.PositiveIntegerField(_("tables started"), default=0)
    progress_rows = models.BigIntegerField(_("rows written"), default=0)
    table_counts = models.JSONField(_("rows per table"), default=dict, blank=True)
    total_rows = models.BigIntegerField(_("rows"), default=0)
    file_path = models.CharField(_("file"), max_length=1000, blank=True)
    file_size = models.BigIntegerField(_("size in bytes"), null=True, blank=True)
    checksum = models.CharField(_("SHA-256"), max_length=64, blank=True)
    # The file is deleted past the retention, or by hand; the record stays.
    file_deleted_at = models.DateTimeField(_("file deleted at"), null=True, blank=True)
    file_deleted_by = models.CharField(_("file deleted by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ("-started_at", "-id")
        permissions = [
            ("export_domain", _("Can export domain data")),
            ("delete_export_file", _("Can delete export files")),
        ]

    def __str__(self):
        return f"{self.file_name or '-'} ({self.started_at:%Y-%m-%d %H:%M:%S})"

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1]

    @property
    def scope(self) -> str:
        if not self.organizations:
            return str(_("whole database"))
        return ", ".join(self.organizations)


class ImportRecord(Run):
    """An import from the admin: the uploaded file (its original name, where it is kept,
    its SHA-256), the database it went into, who ran it, and its report.

    Each upload is first a dry run (`dry_run`, the preview); confirming it records a second
    import, `preview` naming the first, which loads exactly the bytes that were previewed.
    Both are queued, then run by the worker (`db_worker`). A real import keeps its run id
    (`run_id`); its revert is recorded the same way, a dry run then its confirmation, with
    `reverts` naming the import."""

    dry_run = models.BooleanField(_("dry run"), default=True)
    preview = models.ForeignKey(
        "self",
        verbose_name=_("preview"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="confirmed_imports",
    )
    user = admin_user_field(related_name="domain_imports")
    # The name the file was uploaded under, and where it is kept (named by its SHA-256).
    file_name = models.CharField(_("file"), max_length=255)
    file_path = models.CharField(_("stored file"), max_length=1000)
    file_size = models.BigIntegerField(_("size in bytes"))
    checksum = models.CharField(_("SHA-256"), max_length=64)
    # The options of `loaddomain` the upload form offers; a confirmation takes its preview's.
    match = models.CharField(
        _("rows matched"),
        max_length=10,
        choices=[("id", _("by id")), ("natural", _("by natural key"))],
        default="id",
    )
    skip_audit = models.BooleanField(_("audit logs left out"), default=False)
    # The preview's plan (plans.py), a private file beside the kept upload: what a preview
    # found for every row, which its confirmation applies (the confirmation names it too).
    plan_path = models.CharField(_("plan"), max_length=1000, blank=True)
    # While running: the table being loaded, and how many tables were started.
    progress_table = models.CharField(_("current table"), max_length=100, blank=True)
    progress_tables = models.PositiveIntegerField(_("tables started"), default=0)
    # ImportReport.as_dict(), with "media" (the uploaded files) for an archive.
    report = models.JSONField(_("report"), default=dict, blank=True)
    # A real import's run id: its undo journal's (`revertimport RUN`).
    run_id = models.CharField(_("run"), max_length=40, blank=True)
    # A revert of the import `reverts` (its run): a dry run first, then confirmed; its
    # report is RevertReport.as_dict().
    reverts = models.ForeignKey(
        "self",
        verbose_name=_("reverts"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="revert_runs",
    )

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ("-started_at", "-id")
        permissions = [("import_domain", _("Can import domain data"))]

    def __str__(self):
        return f"{self.file_name} ({self.started_at:%Y-%m-%d %H:%M:%S})"
