"""The history of exports: one ExportRecord per run, from the admin or the command line."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportRecord(models.Model):
    """Who or what ran an export, when, of what, and the file it wrote (or why it failed, or
    that it was interrupted)."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        INTERRUPTED = "interrupted", _("interrupted")

    started_at = models.DateTimeField(_("started at"), db_index=True)
    duration = models.DurationField(_("duration"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    error = models.TextField(_("error"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("admin user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="domain_exports",
    )
    command = models.CharField(_("command"), max_length=200, blank=True)
    system_user = models.CharField(_("system user"), max_length=150, blank=True)
    database = models.CharField(_("database"), max_length=100)
    # Empty: the whole database; otherwise the slugs of the organizations exported.
    organizations = models.JSONField(_("organizations"), default=list, blank=True)
    excluded_tables = models.JSONField(_("excluded tables"), default=list, blank=True)
    secrets_excluded = models.BooleanField(_("secrets excluded"), default=False)
    table_counts = models.JSONField(_("rows per table"), default=dict, blank=True)
    total_rows = models.BigIntegerField(_("rows"), default=0)
    file_path = models.CharField(_("file"), max_length=1000, blank=True)
    file_size = models.BigIntegerField(_("size in bytes"), null=True, blank=True)
    checksum = models.CharField(_("SHA-256"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ("-started_at", "-id")
        permissions = [("export_domain", _("Can export domain data"))]

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
