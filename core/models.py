"""The domain: one model per table of the platform, on the very tables Prisma made.

Table and column names, types and constraints are those of `core/prisma/prisma-schema.sql`
(the DDL Prisma 6.19 generates from the platform's `schema.prisma`): `db_table` is the
Prisma model name, `db_column` the Prisma field name; attributes are their snake_case
spellings. A Prisma `String` is `TEXT` unless it says `@db.VarChar(n)`; `DateTime` is
`TIMESTAMP(3)` in UTC (`TimestampField`); enums are PostgreSQL enum types (`EnumField`).
`created_at` defaults to now and `updated_at` is refreshed by `save()`, as Prisma Client
does; bulk writes keep the values they are given, which is how an import preserves the
file's timestamps. `natural_key_fields` names what identifies a row across databases
whatever its id (`loaddomain --match natural`). `transfer_policy` says how an import may
write a model's rows (datatransfer/registry.py): "upsert" by default, "append-only" for
the audit log (an event is never rewritten; one the target lacks gets a new id there),
"immutable" for the blockchain (a block is never changed once written).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.cuid import new_cuid
from core.fields import EnumField, TimestampField, now_ms


def cuid_field():
    return models.TextField(primary_key=True, default=new_cuid, editable=False)


def foreign_key(to, column, *, null=False, **kwargs):
    """A Prisma relation: the `column` holding the id, `ON DELETE SET NULL` when optional
    and `RESTRICT` (PROTECT) when required, as Prisma's defaults."""
    on_delete = models.SET_NULL if null else models.PROTECT
    return models.ForeignKey(
        to, db_column=column, null=null, blank=null, on_delete=on_delete, **kwargs
    )


class TimestampedModel(models.Model):
    """`created_at` set on insert, `updated_at` on every save (as Prisma Client does)."""

    created_at = TimestampField(default=now_ms, db_column="createdAt")
    updated_at = TimestampField(default=now_ms, db_column="updatedAt")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = now_ms()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    SUPERADMIN = "SUPERADMIN"
    ADMIN = "ADMIN"
    ORG_ADMIN = "ORG_ADMIN"
    AGENT = "AGENT"
    USER = "USER"


def role_field(**kwargs):
    return EnumField(enum_name="Role", choices=Role.choices, default=Role.USER, **kwargs)


class PermissionManager(models.Manager):
    def get_by_natural_key(self, key):
        return self.get(key=key)


class Permission(TimestampedModel):
    natural_key_fields = ("key",)

    id = cuid_field()
    key = models.CharField(max_length=100, unique=True)
    label = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)

    objects = PermissionManager()

    class Meta:
        db_table = "Permission"

    def __str__(self):
        return self.key

    def natural_key(self):
        return (self.key,)


class Organization(TimestampedModel):
    natural_key_fields = ("slug",)

    class Type(models.TextChoices):
        UNIVERSITE = "UNIVERSITE", _("Université")
        ECOLE = "ECOLE", _("École")
        ENTREPRISE = "ENTREPRISE", _("Entreprise")
        ADMINISTRATION = "ADMINISTRATION", _("Administration")
        AUTRE = "AUTRE", _("Autre")

    id = cuid_field()
    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=200, unique=True)
    type = EnumField(enum_name="OrganizationType", choices=Type.choices)
    email = models.TextField(null=True, blank=True)
    phone = models.TextField(null=True, blank=True)
    address = models.TextField(null=True, blank=True)
    country = models.CharField(max_length=2, null=True, blank=True)
    is_active = models.BooleanField(default=True, db_column="isActive")
    owner = foreign_key("User", "ownerId", null=True, related_name="owned_organizations")

    class Meta:
        db_table = "Organization"

    def __str__(self):
        return self.name


class User(TimestampedModel):
    """A user of the document-sharing platform (not a login of this project's admin)."""

    secret_fields = ("password_hash",)
    natural_key_fields = ("email",)

    id = cuid_field()
    email = models.CharField(max_length=254, unique=True)
    password_hash = models.CharField(max_length=255, db_column="passwordHash")
    first_name = models.TextField(null=True, blank=True, db_column="firstName")
    last_name = models.TextField(null=True, blank=True, db_column="lastName")
    phone = models.TextField(null=True, blank=True)
    role = role_field()
    is_active = models.BooleanField(default=True, db_column="isActive")
    email_verified_at = TimestampField(null=True, blank=True, db_column="emailVerifiedAt")
    last_login_at = TimestampField(null=True, blank=True, db_column="lastLoginAt")
    organization = foreign_key(Organization, "organizationId", null=True, related_name="members")
    permissions = models.ManyToManyField(
        Permission, blank=True, related_name="users", through="PermissionToUser"
    )

    class Meta:
        db_table = "User"

    def __str__(self):
        return self.email


class PermissionToUser(models.Model):
    """Prisma's implicit many-to-many table of `User.permissions`: `A` is the permission,
    `B` the user. A link table travels as the users' `permissionKeys`, not as a table."""

    pk = models.CompositePrimaryKey("permission", "user")
    permission = models.ForeignKey(
        Permission, on_delete=models.CASCADE, db_column="A", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, db_column="B")

    class Meta:
        db_table = "_PermissionToUser"


class Department(TimestampedModel):
    natural_key_fields = ("organization", "code")

    id = cuid_field()
    organization = foreign_key(Organization, "organizationId", related_name="departments")
    name = models.TextField()
    code = models.CharField(max_length=50)

    class Meta:
        db_table = "Department"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="Department_organizationId_code_key"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Filiere(TimestampedModel):
    natural_key_fields = ("department", "code")

    id = cuid_field()
    department = foreign_key(Department, "departmentId", related_name="filieres")
    name = models.TextField()
    code = models.CharField(max_length=50)

    class Meta:
        db_table = "Filiere"
        constraints = [
            models.UniqueConstraint(
                fields=["department", "code"], name="Filiere_departmentId_code_key"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class OrganizationInvite(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        ACCEPTED = "ACCEPTED"
        EXPIRED = "EXPIRED"
        REVOKED = "REVOKED"

    secret_fields = ("token",)

    id = cuid_field()
    organization = foreign_key(Organization, "organizationId", related_name="invites")
    email = models.TextField()
    token = models.CharField(max_length=64, unique=True)
    role = role_field()
    status = EnumField(enum_name="InviteStatus", choices=Status.choices, default=Status.PENDING)
    expires_at = TimestampField(db_column="expiresAt")
    invited_by = foreign_key(User, "invitedById", null=True, related_name="sent_invites")

    class Meta:
        db_table = "OrganizationInvite"

    def __str__(self):
        return f"{self.email} -> {self.organization_id}"


class DemandePartage(TimestampedModel):
    natural_key_fields = ("code",)

    class Status(models.TextChoices):
        EN_ATTENTE = "EN_ATTENTE", _("En attente")
        EN_COURS = "EN_COURS", _("En cours")
        VALIDEE = "VALIDEE", _("Validée")
        REJETEE = "REJETEE", _("Rejetée")
        ANNULEE = "ANNULEE", _("Annulée")

    id = cuid_field()
    code = models.CharField(max_length=30, unique=True)
    user = foreign_key(User, "userId", related_name="demandes")
    target_org = foreign_key(Organization, "targetOrgId", related_name="demandes_received")
    assigned_org = foreign_key(
        Organization, "assignedOrgId", null=True, related_name="demandes_assigned"
    )
    filiere = foreign_key(Filiere, "filiereId", null=True, related_name="demandes")
    status = EnumField(enum_name="DemandeStatus", choices=Status.choices, default=Status.EN_ATTENTE)
    annee = models.CharField(max_length=9, null=True, blank=True)
    niveau = models.CharField(max_length=20, null=True, blank=True)
    motif = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    deleted_at = TimestampField(null=True, blank=True, db_column="deletedAt")

    class Meta:
        db_table = "DemandePartage"

    def __str__(self):
        return self.code


class DocumentPartage(TimestampedModel):
    id = cuid_field()
    demande_partage = foreign_key(DemandePartage, "demandePartageId", related_name="documents")
    owner_org = foreign_key(Organization, "ownerOrgId", related_name="documents")
    type = models.CharField(max_length=50)
    mention = models.TextField(null=True, blank=True)
    date_obtention = models.DateField(null=True, blank=True, db_column="dateObtention")
    est_traduit = models.BooleanField(default=False, db_column="estTraduit")
    a_document = models.BooleanField(default=False, db_column="aDocument")
    code_adn = models.CharField(
        max_length=64, unique=True, null=True, blank=True, db_column="codeAdn"
    )
    file_path = models.CharField(max_length=500, null=True, blank=True, db_column="filePath")
    mime_type = models.TextField(null=True, blank=True, db_column="mimeType")
    file_size = models.BigIntegerField(null=True, blank=True, db_column="fileSize")
    blockchain_hash = models.CharField(
        max_length=128, null=True, blank=True, db_column="blockchainHash"
    )
    encrypted_at = TimestampField(null=True, blank=True, db_column="encryptedAt")

    class Meta:
        db_table = "DocumentPartage"

    def __str__(self):
        return f"{self.type} ({self.id})"


class BlockchainBlock(models.Model):
    transfer_policy = "immutable"

    id = cuid_field()
    index = models.IntegerField(unique=True)
    document_partage = foreign_key(
        DocumentPartage, "documentPartageId", null=True, related_name="blocks"
    )
    previous_block = foreign_key("self", "previousBlockId", null=True, related_name="next_blocks")
    hash = models.CharField(max_length=128, unique=True)
    previous_hash = models.CharField(max_length=128, db_column="previousHash")
    nonce = models.BigIntegerField()
    data = models.JSONField()
    timestamp = TimestampField()
    created_at = TimestampField(default=now_ms, db_column="createdAt")

    class Meta:
        db_table = "BlockchainBlock"

    def __str__(self):
        return f"#{self.index}"


class Abonnement(TimestampedModel):
    class Plan(models.TextChoices):
        GRATUIT = "GRATUIT", _("Gratuit")
        STANDARD = "STANDARD", _("Standard")
        PREMIUM = "PREMIUM", _("Premium")
        ENTREPRISE = "ENTREPRISE", _("Entreprise")

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        EXPIRED = "EXPIRED"
        CANCELED = "CANCELED"
        TRIAL = "TRIAL"

    id = cuid_field()
    organization = foreign_key(Organization, "organizationId", related_name="abonnements")
    plan = EnumField(enum_name="Plan", choices=Plan.choices)
    status = EnumField(enum_name="AbonnementStatus", choices=Status.choices, default=Status.ACTIVE)
    start_date = models.DateField(db_column="startDate")
    end_date = models.DateField(null=True, blank=True, db_column="endDate")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    auto_renew = models.BooleanField(default=False, db_column="autoRenew")

    class Meta:
        db_table = "Abonnement"

    def __str__(self):
        return f"{self.plan} {self.organization_id}"


class Transaction(TimestampedModel):
    natural_key_fields = ("reference",)

    class TypePaiement(models.TextChoices):
        MOBILE_MONEY = "MOBILE_MONEY"
        BANK_TRANSFER = "BANK_TRANSFER"
        CARD = "CARD"
        CASH = "CASH"

    class Statut(models.TextChoices):
        PENDING = "PENDING"
        SUCCESS = "SUCCESS"
        FAILED = "FAILED"
        CANCELED = "CANCELED"

    id = cuid_field()
    demande_partage = foreign_key(DemandePartage, "demandePartageId", related_name="transactions")
    user = foreign_key(User, "userId", null=True, related_name="transactions")
    montant = models.DecimalField(max_digits=12, decimal_places=2)
    type_paiement = EnumField(
        enum_name="TypePaiement", choices=TypePaiement.choices, db_column="typePaiement"
    )
    type_transaction = models.TextField(null=True, blank=True, db_column="typeTransaction")
    statut = EnumField(
        enum_name="StatutTransaction", choices=Statut.choices, default=Statut.PENDING
    )
    reference = models.CharField(max_length=64, unique=True)
    deleted_at = TimestampField(null=True, blank=True, db_column="deletedAt")

    class Meta:
        db_table = "Transaction"

    def __str__(self):
        return self.reference


class Payment(TimestampedModel):
    natural_key_fields = ("provider", "provider_ref")

    id = cuid_field()
    transaction = foreign_key(Transaction, "transactionId", null=True, related_name="payments")
    demande_partage = foreign_key(
        DemandePartage, "demandePartageId", null=True, related_name="payments"
    )
    abonnement = foreign_key(Abonnement, "abonnementId", null=True, related_name="payments")
    provider = models.CharField(max_length=30)
    provider_ref = models.CharField(max_length=128, db_column="providerRef")
    status = models.CharField(max_length=30)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    metadata = models.JSONField(null=True, blank=True)
    paid_at = TimestampField(null=True, blank=True, db_column="paidAt")

    class Meta:
        db_table = "Payment"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_ref"], name="Payment_provider_providerRef_key"
            )
        ]

    def __str__(self):
        return f"{self.provider}:{self.provider_ref}"


class ContactMessage(TimestampedModel):
    id = cuid_field()
    name = models.TextField()
    email = models.TextField()
    subject = models.TextField(null=True, blank=True)
    message = models.TextField()
    is_read = models.BooleanField(default=False, db_column="isRead")

    class Meta:
        db_table = "ContactMessage"

    def __str__(self):
        return f"{self.name}: {self.subject or ''}"


class Configuration(TimestampedModel):
    natural_key_fields = ("key",)

    id = cuid_field()
    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField()
    description = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "Configuration"

    def __str__(self):
        return self.key


class SiteSettings(TimestampedModel):
    natural_key_fields = ("id",)  # the one row, id "default"

    id = models.TextField(primary_key=True, default="default")
    site_name = models.TextField(db_column="siteName")
    contact_email = models.TextField(null=True, blank=True, db_column="contactEmail")
    logo_url = models.TextField(null=True, blank=True, db_column="logoUrl")
    maintenance_mode = models.BooleanField(default=False, db_column="maintenanceMode")
    extra = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "SiteSettings"
        verbose_name_plural = "site settings"

    def __str__(self):
        return self.site_name


class AuditLog(models.Model):
    transfer_policy = "append-only"

    id = models.AutoField(primary_key=True)
    user = foreign_key(User, "userId", null=True, related_name="audit_logs")
    action = models.CharField(max_length=100)
    entity = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=64, null=True, blank=True, db_column="entityId")
    details = models.JSONField(null=True, blank=True)
    ip_address = models.CharField(max_length=45, null=True, blank=True, db_column="ipAddress")
    user_agent = models.TextField(null=True, blank=True, db_column="userAgent")
    created_at = TimestampField(default=now_ms, db_column="createdAt")

    class Meta:
        db_table = "AuditLog"

    def __str__(self):
        return f"{self.action} {self.entity} {self.entity_id or ''}"
