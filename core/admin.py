"""Admin of the 16 domain models, made for tables of millions of rows.

Foreign keys are picked by search (autocomplete) or by id, never from a dropdown of every
row; list filters only on choices and booleans (a free-text filter runs SELECT DISTINCT on
the whole table); the changelists join the foreign keys they show; no COUNT(*) per page.
Secrets (`User.password_hash`, `OrganizationInvite.token`) are shown masked, never listed.
The transfer app adds its export action to the organizations' admin itself (datatransfer
depends on core, never the other way).
"""

import secrets

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import models


def masked(value: str | None) -> str:
    """Whether a secret is set, without any of its characters."""
    if not value:
        return gettext("(not set)")
    return gettext("•••••••• (set, %(count)s characters)") % {"count": len(value)}


class DomainAdmin(admin.ModelAdmin):
    list_per_page = 50
    # An exact COUNT(*) of a multi-million-row table on every page is too slow.
    show_full_result_count = False
    # Newest first, on an indexed column (also gives autocomplete a stable order).
    ordering = ("-created_at",)
    readonly_fields = ("id", "created_at", "updated_at")


@admin.register(models.Permission)
class PermissionAdmin(DomainAdmin):
    list_display = ("key", "label", "updated_at")
    search_fields = ("key", "label")
    ordering = ("key",)


@admin.register(models.Organization)
class OrganizationAdmin(DomainAdmin):
    list_display = ("name", "slug", "type", "country", "is_active", "owner", "created_at")
    list_filter = ("type", "is_active")
    list_select_related = ("owner",)
    search_fields = ("=id", "name", "slug", "email")
    autocomplete_fields = ("owner",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(models.User)
class UserAdmin(DomainAdmin):
    list_display = ("email", "first_name", "last_name", "role", "is_active", "organization")
    list_filter = ("role", "is_active")
    list_select_related = ("organization",)
    search_fields = ("=id", "email", "first_name", "last_name")
    autocomplete_fields = ("organization", "permissions")
    exclude = ("password_hash",)
    readonly_fields = (*DomainAdmin.readonly_fields, "password")

    @admin.display(description=_("password hash"))
    def password(self, user):
        return masked(user.password_hash)


@admin.register(models.Department)
class DepartmentAdmin(DomainAdmin):
    list_display = ("code", "name", "organization")
    list_select_related = ("organization",)
    search_fields = ("=id", "code", "name")
    autocomplete_fields = ("organization",)


@admin.register(models.Filiere)
class FiliereAdmin(DomainAdmin):
    list_display = ("code", "name", "department")
    list_select_related = ("department",)
    search_fields = ("=id", "code", "name")
    autocomplete_fields = ("department",)


@admin.register(models.OrganizationInvite)
class OrganizationInviteAdmin(DomainAdmin):
    list_display = ("email", "organization", "role", "status", "expires_at", "invited_by")
    list_filter = ("status", "role")
    list_select_related = ("organization", "invited_by")
    search_fields = ("=id", "email")
    autocomplete_fields = ("organization", "invited_by")
    exclude = ("token",)
    readonly_fields = (*DomainAdmin.readonly_fields, "masked_token")

    @admin.display(description=_("token"))
    def masked_token(self, invite):
        return masked(invite.token)

    def save_model(self, request, obj, form, change):
        if not obj.token:
            obj.token = secrets.token_hex(32)
        super().save_model(request, obj, form, change)


@admin.register(models.DemandePartage)
class DemandePartageAdmin(DomainAdmin):
    list_display = ("code", "status", "user", "target_org", "assigned_org", "annee", "created_at")
    list_filter = ("status",)
    list_select_related = ("user", "target_org", "assigned_org")
    search_fields = ("=id", "code")
    autocomplete_fields = ("user", "target_org", "assigned_org", "filiere")


@admin.register(models.DocumentPartage)
class DocumentPartageAdmin(DomainAdmin):
    list_display = ("id", "type", "mention", "owner_org", "a_document", "est_traduit", "created_at")
    list_filter = ("a_document", "est_traduit")
    list_select_related = ("owner_org",)
    search_fields = ("=id", "=code_adn", "file_path")
    autocomplete_fields = ("demande_partage", "owner_org")


@admin.register(models.BlockchainBlock)
class BlockchainBlockAdmin(DomainAdmin):
    list_display = ("index", "hash", "document_partage", "timestamp")
    list_select_related = ("document_partage",)
    search_fields = ("=id", "=hash", "=index")
    readonly_fields = ("id", "created_at")
    autocomplete_fields = ("document_partage",)
    # A self-reference: autocomplete would need this admin's own search, an id is clearer.
    raw_id_fields = ("previous_block",)
    ordering = ("-index",)


@admin.register(models.Abonnement)
class AbonnementAdmin(DomainAdmin):
    list_display = ("organization", "plan", "status", "start_date", "end_date", "price", "currency")
    list_filter = ("plan", "status", "auto_renew")
    list_select_related = ("organization",)
    search_fields = ("=id", "organization__name")
    autocomplete_fields = ("organization",)


@admin.register(models.Transaction)
class TransactionAdmin(DomainAdmin):
    list_display = ("reference", "montant", "type_paiement", "statut", "user", "created_at")
    list_filter = ("statut", "type_paiement")
    list_select_related = ("user",)
    search_fields = ("=id", "reference")
    autocomplete_fields = ("demande_partage", "user")


@admin.register(models.Payment)
class PaymentAdmin(DomainAdmin):
    list_display = ("provider", "provider_ref", "status", "amount", "currency", "transaction")
    list_select_related = ("transaction",)
    search_fields = ("=id", "provider_ref")
    autocomplete_fields = ("transaction", "demande_partage", "abonnement")


@admin.register(models.ContactMessage)
class ContactMessageAdmin(DomainAdmin):
    list_display = ("name", "email", "subject", "is_read", "created_at")
    list_filter = ("is_read",)
    search_fields = ("=id", "name", "email", "subject")


@admin.register(models.Configuration)
class ConfigurationAdmin(DomainAdmin):
    list_display = ("key", "description", "updated_at")
    search_fields = ("key",)
    ordering = ("key",)


@admin.register(models.SiteSettings)
class SiteSettingsAdmin(DomainAdmin):
    list_display = ("site_name", "contact_email", "maintenance_mode", "updated_at")


@admin.register(models.AuditLog)
class AuditLogAdmin(DomainAdmin):
    """The audit trail is read-only."""

    list_display = ("id", "created_at", "action", "entity", "entity_id", "user", "ip_address")
    list_select_related = ("user",)
    search_fields = ("=id", "=entity_id", "=ip_address")
    autocomplete_fields = ("user",)
    readonly_fields = ()
    ordering = ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
