"""The domain: one model per table of the platform, on the very tables Prisma made.

Table and column names, types and constraints are those of `core/prisma/prisma-schema.sql`
(the DDL Prisma 6.19 generates from the platform's `schema.prisma`): `db_table` is the
Prisma model name, `db_column` the Prisma field name; attributes are their snake_case
spellings. A Prisma `String` is `TEXT` unless it says `@db.VarChar(n)`; `DateTime` is
`TIMESTAMP(3)` in UTC (`TimestampField`); enums are PostgreSQL enum types (`EnumField`).
`created_at` defaults to now and `updated_at` is refreshed by `save()`, as Prisma Client
does; bulk writes keep the values they are given, which is how an import preserves the
file's timestamps.

Every model, field and choice has a verbose name for the admin, translated (core/locale);
they are Python-side only: the migration that carries them changes nothing in a database.

What is special about a model for the transfer is its `transfer` declaration
(datatransfer/declarations.py): its secrets, its natural key (what identifies a row across
databases whatever its id), the field naming an uploaded file, the subset's root
(organizations, by slug), and the write policy: "upsert" by default, "append-only" for
the audit log (an event is never rewritten; one the target lacks gets a new id there),
"immutable" for the blockchain (a block is never changed once written).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.cuid import new_cuid
from core.fields import EnumField, TimestampField, now_ms
from datatransfer.declarations import APPEND_ONLY, IMMUTABLE, Transfer


def cuid_field():
    return models.TextField(_("ID"), primary_key=True, default=new_cuid, editable=False)


def foreign_key(to, column, verbose_name, *, null=False, **kwargs):
    """A Prisma relation: the `column` holding the id, `ON DELETE SET NULL` when optional
    and `RESTRICT` (PROTECT) when required, as Prisma's defaults."""
    on_delete = models.SET_NULL if null else models.PROTECT
    return models.ForeignKey(
        to,
        verbose_name=verbose_name,
        db_column=column,
        null=null,
        blank=null,
        on_delete=on_delete,
        **kwargs,
    )


class TimestampedModel(models.Model):
    """`created_at` set on insert, `updated_at` on every save (as Prisma Client does)."""

    created_at = TimestampField(_("created at"), default=now_ms, db_column="createdAt")
    updated_at = TimestampField(_("updated at"), default=now_ms, db_column="updatedAt")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = now_ms()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    SUPERADMIN = "SUPERADMIN", _("Super administrator")
    ADMIN = "ADMIN", _("Administrator")
    ORG_ADMIN = "ORG_ADMIN", _("Organization administrator")
    AGENT = "AGENT", _("Agent")
    USER = "USER", _("User")


def role_field(**kwargs):
    return EnumField(_("role"), enum_name="Role", choices=Role.choices, default=Role.USER, **kwargs)


class Permission(TimestampedModel):
    transfer = Transfer(natural_key=("key",))

    id = cuid_field()
    key = models.CharField(_("key"), max_length=100, unique=True)
    label = models.CharField(_("label"), max_length=200)
    description = models.TextField(_("description"), null=True, blank=True)

    class Meta:
        db_table = "Permission"
        verbose_name = _("permission")
        verbose_name_plural = _("permissions")

    def __str__(self):
        return self.key


class Organization(TimestampedModel):
    transfer = Transfer(natural_key=("slug",), subset_root="slug")

    class Type(models.TextChoices):
        UNIVERSITE = "UNIVERSITE", _("Université")
        ECOLE = "ECOLE", _("École")
        ENTREPRISE = "ENTREPRISE", _("Entreprise")
        ADMINISTRATION = "ADMINISTRATION", _("Administration")
        AUTRE = "AUTRE", _("Autre")

    id = cuid_field()
    name = models.CharField(_("name"), max_length=200)
    slug = models.CharField(_("slug"), max_length=200, unique=True)
    type = EnumField(_("type"), enum_name="OrganizationType", choices=Type.choices)
    email = models.TextField(_("email"), null=True, blank=True)
    phone = models.TextField(_("phone"), null=True, blank=True)
    address = models.TextField(_("address"), null=True, blank=True)
    country = models.CharField(_("country"), max_length=2, null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True, db_column="isActive")
    owner = foreign_key(
        "User", "ownerId", _("owner"), null=True, related_name="owned_organizations"
    )

    class Meta:
        db_table = "Organization"
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self):
        return self.name


class User(TimestampedModel):
    """A user of the document-sharing platform (not a login of this project's admin)."""

    transfer = Transfer(secrets=("password_hash",), natural_key=("email",))

    id = cuid_field()
    email = models.CharField(_("email"), max_length=254, unique=True)
    password_hash = models.CharField(_("password hash"), max_length=255, db_column="passwordHash")
    first_name = models.TextField(_("first name"), null=True, blank=True, db_column="firstName")
    last_name = models.TextField(_("last name"), null=True, blank=True, db_column="lastName")
    phone = models.TextField(_("phone"), null=True, blank=True)
    role = role_field()
    is_active = models.BooleanField(_("active"), default=True, db_column="isActive")
    email_verified_at = TimestampField(
        _("email verified at"), null=True, blank=True, db_column="emailVerifiedAt"
    )
    last_login_at = TimestampField(
        _("last login at"), null=True, blank=True, db_column="lastLoginAt"
    )
    organization = foreign_key(
        Organization, "organizationId", _("organization"), null=True, related_name="members"
    )
    permissions = models.ManyToManyField(
        Permission,
        verbose_name=_("permissions"),
        blank=True,
        related_name="users",
        through="PermissionToUser",
    )

    class Meta:
        db_table = "User"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.email


class PermissionToUser(models.Model):
    """Prisma's implicit many-to-many table of `User.permissions`: `A` is the permission,
    `B` the user. A link table travels as the users' `permissionKeys`, not as a table."""

    pk = models.CompositePrimaryKey("permission", "user")
    permission = models.ForeignKey(
        Permission,
        verbose_name=_("permission"),
        on_delete=models.CASCADE,
        db_column="A",
        db_index=False,
    )
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, db_column="B")

    class Meta:
        db_table = "_PermissionToUser"
        verbose_name = _("user's permission")
        verbose_name_plural = _("users' permissions")


class Department(TimestampedModel):
    transfer = Transfer(natural_key=("organization", "code"))

    id = cuid_field()
    organization = foreign_key(
        Organization, "organizationId", _("organization"), related_name="departments"
    )
    name = models.TextField(_("name"))
    code = models.CharField(_("code"), max_length=50)

    class Meta:
        db_table = "Department"
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="Department_organizationId_code_key"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Filiere(TimestampedModel):
    transfer = Transfer(natural_key=("department", "code"))

    id = cuid_field()
    department = foreign_key(Department, "departmentId", _("department"), related_name="filieres")
    name = models.TextField(_("name"))
    code = models.CharField(_("code"), max_length=50)

    class Meta:
        db_table = "Filiere"
        verbose_name = _("study track")
        verbose_name_plural = _("study tracks")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "code"], name="Filiere_departmentId_code_key"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class OrganizationInvite(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "PENDING", pgettext_lazy("invitation", "Pending")
        ACCEPTED = "ACCEPTED", pgettext_lazy("invitation", "Accepted")
        EXPIRED = "EXPIRED", pgettext_lazy("invitation", "Expired")
        REVOKED = "REVOKED", pgettext_lazy("invitation", "Revoked")

    transfer = Transfer(secrets=("token",))

    id = cuid_field()
    organization = foreign_key(
        Organization, "organizationId", _("organization"), related_name="invites"
    )
    email = models.TextField(_("email"))
    token = models.CharField(_("token"), max_length=64, unique=True)
    role = role_field()
    status = EnumField(
        _("status"), enum_name="InviteStatus", choices=Status.choices, default=Status.PENDING
    )
    expires_at = TimestampField(_("expires at"), db_column="expiresAt")
    invited_by = foreign_key(
        User, "invitedById", _("invited by"), null=True, related_name="sent_invites"
    )

    class Meta:
        db_table = "OrganizationInvite"
        verbose_name = _("organization invitation")
        verbose_name_plural = _("organization invitations")

    def __str__(self):
        return f"{self.email} -> {self.organization_id}"


class DemandePartage(TimestampedModel):
    transfer = Transfer(natural_key=("code",))

    class Status(models.TextChoices):
        EN_ATTENTE = "EN_ATTENTE", _("En attente")
        EN_COURS = "EN_COURS", _("En cours")
        VALIDEE = "VALIDEE", _("Validée")
        REJETEE = "REJETEE", _("Rejetée")
        ANNULEE = "ANNULEE", _("Annulée")

    id = cuid_field()
    code = models.CharField(_("code"), max_length=30, unique=True)
    user = foreign_key(User, "userId", _("user"), related_name="demandes")
    target_org = foreign_key(
        Organization, "targetOrgId", _("target organization"), related_name="demandes_received"
    )
    assigned_org = foreign_key(
        Organization,
        "assignedOrgId",
        _("assigned organization"),
        null=True,
        related_name="demandes_assigned",
    )
    filiere = foreign_key(
        Filiere, "filiereId", _("study track"), null=True, related_name="demandes"
    )
    status = EnumField(
        _("status"), enum_name="DemandeStatus", choices=Status.choices, default=Status.EN_ATTENTE
    )
    annee = models.CharField(_("academic year"), max_length=9, null=True, blank=True)
    niveau = models.CharField(_("level"), max_length=20, null=True, blank=True)
    motif = models.TextField(_("reason"), null=True, blank=True)
    metadata = models.JSONField(_("metadata"), null=True, blank=True)
    deleted_at = TimestampField(_("deleted at"), null=True, blank=True, db_column="deletedAt")

    class Meta:
        db_table = "DemandePartage"
        verbose_name = _("sharing request")
        verbose_name_plural = _("sharing requests")

    def __str__(self):
        return self.code


class DocumentPartage(TimestampedModel):
    # `file_path` is the uploaded file's path under MEDIA_ROOT (a column, not a FileField).
    transfer = Transfer(file_fields=("file_path",))

    id = cuid_field()
    demande_partage = foreign_key(
        DemandePartage, "demandePartageId", _("sharing request"), related_name="documents"
    )
    owner_org = foreign_key(
        Organization, "ownerOrgId", _("owner organization"), related_name="documents"
    )
    type = models.CharField(_("type"), max_length=50)
    mention = models.TextField(_("honours"), null=True, blank=True)
    date_obtention = models.DateField(
        _("date obtained"), null=True, blank=True, db_column="dateObtention"
    )
    est_traduit = models.BooleanField(_("translated"), default=False, db_column="estTraduit")
    a_document = models.BooleanField(_("has a document"), default=False, db_column="aDocument")
    code_adn = models.CharField(
        _("DNA code"), max_length=64, unique=True, null=True, blank=True, db_column="codeAdn"
    )
    file_path = models.CharField(
        _("file path"), max_length=500, null=True, blank=True, db_column="filePath"
    )
    mime_type = models.TextField(_("MIME type"), null=True, blank=True, db_column="mimeType")
    file_size = models.BigIntegerField(_("file size"), null=True, blank=True, db_column="fileSize")
    blockchain_hash = models.CharField(
        _("blockchain hash"), max_length=128, null=True, blank=True, db_column="blockchainHash"
    )
    encrypted_at = TimestampField(_("encrypted at"), null=True, blank=True, db_column="encryptedAt")

    class Meta:
        db_table = "DocumentPartage"
        verbose_name = _("shared document")
        verbose_name_plural = _("shared documents")

    def __str__(self):
        return f"{self.type} ({self.id})"


class BlockchainBlock(models.Model):
    transfer = Transfer(policy=IMMUTABLE)

    id = cuid_field()
    index = models.IntegerField(_("index"), unique=True)
    document_partage = foreign_key(
        DocumentPartage,
        "documentPartageId",
        _("shared document"),
        null=True,
        related_name="blocks",
    )
    previous_block = foreign_key(
        "self", "previousBlockId", _("previous block"), null=True, related_name="next_blocks"
    )
    hash = models.CharField(_("hash"), max_length=128, unique=True)
    previous_hash = models.CharField(_("previous hash"), max_length=128, db_column="previousHash")
    nonce = models.BigIntegerField(_("nonce"))
    data = models.JSONField(_("data"))
    timestamp = TimestampField(_("timestamp"))
    created_at = TimestampField(_("created at"), default=now_ms, db_column="createdAt")

    class Meta:
        db_table = "BlockchainBlock"
        verbose_name = _("blockchain block")
        verbose_name_plural = _("blockchain blocks")

    def __str__(self):
        return f"#{self.index}"


class Abonnement(TimestampedModel):
    class Plan(models.TextChoices):
        GRATUIT = "GRATUIT", _("Gratuit")
        STANDARD = "STANDARD", _("Standard")
        PREMIUM = "PREMIUM", _("Premium")
        ENTREPRISE = "ENTREPRISE", _("Entreprise")

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE", pgettext_lazy("subscription", "Active")
        EXPIRED = "EXPIRED", pgettext_lazy("subscription", "Expired")
        CANCELED = "CANCELED", pgettext_lazy("subscription", "Canceled")
        TRIAL = "TRIAL", pgettext_lazy("subscription", "Trial")

    id = cuid_field()
    organization = foreign_key(
        Organization, "organizationId", _("organization"), related_name="abonnements"
    )
    plan = EnumField(_("plan"), enum_name="Plan", choices=Plan.choices)
    status = EnumField(
        _("status"), enum_name="AbonnementStatus", choices=Status.choices, default=Status.ACTIVE
    )
    start_date = models.DateField(_("start date"), db_column="startDate")
    end_date = models.DateField(_("end date"), null=True, blank=True, db_column="endDate")
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    auto_renew = models.BooleanField(_("automatic renewal"), default=False, db_column="autoRenew")

    class Meta:
        db_table = "Abonnement"
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")

    def __str__(self):
        return f"{self.plan} {self.organization_id}"


class Transaction(TimestampedModel):
    transfer = Transfer(natural_key=("reference",))

    class TypePaiement(models.TextChoices):
        MOBILE_MONEY = "MOBILE_MONEY", _("Mobile money")
        BANK_TRANSFER = "BANK_TRANSFER", _("Bank transfer")
        CARD = "CARD", _("Card")
        CASH = "CASH", _("Cash")

    class Statut(models.TextChoices):
        PENDING = "PENDING", pgettext_lazy("transaction", "Pending")
        SUCCESS = "SUCCESS", pgettext_lazy("transaction", "Succeeded")
        FAILED = "FAILED", pgettext_lazy("transaction", "Failed")
        CANCELED = "CANCELED", pgettext_lazy("transaction", "Canceled")

    id = cuid_field()
    demande_partage = foreign_key(
        DemandePartage, "demandePartageId", _("sharing request"), related_name="transactions"
    )
    user = foreign_key(User, "userId", _("user"), null=True, related_name="transactions")
    montant = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    type_paiement = EnumField(
        _("payment method"),
        enum_name="TypePaiement",
        choices=TypePaiement.choices,
        db_column="typePaiement",
    )
    type_transaction = models.TextField(
        _("transaction type"), null=True, blank=True, db_column="typeTransaction"
    )
    statut = EnumField(
        _("status"), enum_name="StatutTransaction", choices=Statut.choices, default=Statut.PENDING
    )
    reference = models.CharField(_("reference"), max_length=64, unique=True)
    deleted_at = TimestampField(_("deleted at"), null=True, blank=True, db_column="deletedAt")

    class Meta:
        db_table = "Transaction"
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")

    def __str__(self):
        return self.reference


class Payment(TimestampedModel):
    transfer = Transfer(natural_key=("provider", "provider_ref"))

    id = cuid_field()
    transaction = foreign_key(
        Transaction, "transactionId", _("transaction"), null=True, related_name="payments"
    )
    demande_partage = foreign_key(
        DemandePartage,
        "demandePartageId",
        _("sharing request"),
        null=True,
        related_name="payments",
    )
    abonnement = foreign_key(
        Abonnement, "abonnementId", _("subscription"), null=True, related_name="payments"
    )
    provider = models.CharField(_("provider"), max_length=30)
    provider_ref = models.CharField(
        _("provider reference"), max_length=128, db_column="providerRef"
    )
    status = models.CharField(_("status"), max_length=30)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    metadata = models.JSONField(_("metadata"), null=True, blank=True)
    paid_at = TimestampField(_("paid at"), null=True, blank=True, db_column="paidAt")

    class Meta:
        db_table = "Payment"
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_ref"], name="Payment_provider_providerRef_key"
            )
        ]

    def __str__(self):
        return f"{self.provider}:{self.provider_ref}"


class ContactMessage(TimestampedModel):
    id = cuid_field()
    name = models.TextField(_("name"))
    email = models.TextField(_("email"))
    subject = models.TextField(_("subject"), null=True, blank=True)
    message = models.TextField(_("message"))
    is_read = models.BooleanField(_("read"), default=False, db_column="isRead")

    class Meta:
        db_table = "ContactMessage"
        verbose_name = _("contact message")
        verbose_name_plural = _("contact messages")

    def __str__(self):
        return f"{self.name}: {self.subject or ''}"


class Configuration(TimestampedModel):
    transfer = Transfer(natural_key=("key",))

    id = cuid_field()
    key = models.CharField(_("key"), max_length=100, unique=True)
    value = models.JSONField(_("value"))
    description = models.TextField(_("description"), null=True, blank=True)

    class Meta:
        db_table = "Configuration"
        verbose_name = _("configuration")
        verbose_name_plural = _("configurations")

    def __str__(self):
        return self.key


class SiteSettings(TimestampedModel):
    transfer = Transfer(natural_key=("id",))  # the one row, id "default"

    id = models.TextField(_("ID"), primary_key=True, default="default")
    site_name = models.TextField(_("site name"), db_column="siteName")
    contact_email = models.TextField(
        _("contact email"), null=True, blank=True, db_column="contactEmail"
    )
    logo_url = models.TextField(_("logo URL"), null=True, blank=True, db_column="logoUrl")
    maintenance_mode = models.BooleanField(
        _("maintenance mode"), default=False, db_column="maintenanceMode"
    )
    extra = models.JSONField(_("extra settings"), null=True, blank=True)

    class Meta:
        db_table = "SiteSettings"
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")

    def __str__(self):
        return self.site_name


class AuditLog(models.Model):
    transfer = Transfer(policy=APPEND_ONLY, audit_log=True)

    id = models.AutoField(_("ID"), primary_key=True)
    user = foreign_key(User, "userId", _("user"), null=True, related_name="audit_logs")
    action = models.CharField(_("action"), max_length=100)
    entity = models.CharField(_("entity"), max_length=100)
    entity_id = models.CharField(
        _("entity ID"), max_length=64, null=True, blank=True, db_column="entityId"
    )
    details = models.JSONField(_("details"), null=True, blank=True)
    ip_address = models.CharField(
        _("IP address"), max_length=45, null=True, blank=True, db_column="ipAddress"
    )
    user_agent = models.TextField(_("user agent"), null=True, blank=True, db_column="userAgent")
    created_at = TimestampField(_("created at"), default=now_ms, db_column="createdAt")

    class Meta:
        db_table = "AuditLog"
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def __str__(self):
        return f"{self.action} {self.entity} {self.entity_id or ''}"
