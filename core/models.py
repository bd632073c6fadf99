"""The domain: one model per table of the existing application (see docs in README).

Attributes are the snake_case spellings of the application's camelCase columns.
`created_at` defaults to now and `updated_at` is refreshed by `save()`; bulk writes
(`bulk_create`, `QuerySet.update`) keep the values they are given, which is how an
import preserves the file's timestamps. `natural_key_fields` names what identifies a
row across databases whatever its id (`loaddomain --match natural`).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.cuid import new_cuid


def cuid_field():
    return models.CharField(primary_key=True, max_length=30, default=new_cuid, editable=False)


class TimestampedModel(models.Model):
    """`created_at` set on insert, `updated_at` on every save (as the application does)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
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
    type = models.CharField(max_length=20, choices=Type.choices)
    email = models.EmailField(max_length=254, null=True, blank=True)
    phone = models.CharField(max_length=50, null=True, blank=True)
    address = models.TextField(null=True, blank=True)
    country = models.CharField(max_length=2, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    owner = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_organizations"
    )

    def __str__(self):
        return self.name


class User(TimestampedModel):
    """A user of the document-sharing platform (not a login of this project's admin)."""

    secret_fields = ("password_hash",)
    natural_key_fields = ("email",)

    id = cuid_field()
    email = models.EmailField(max_length=254, unique=True)
    password_hash = models.CharField(max_length=255)
    first_name = models.CharField(max_length=255, null=True, blank=True)
    last_name = models.CharField(max_length=255, null=True, blank=True)
    phone = models.CharField(max_length=50, null=True, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.USER)
    is_active = models.BooleanField(default=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    permissions = models.ManyToManyField(Permission, blank=True, related_name="users")

    def __str__(self):
        return self.email


class Department(TimestampedModel):
    natural_key_fields = ("organization", "code")

    id = cuid_field()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="departments"
    )
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="department_org_code_unique"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Filiere(TimestampedModel):
    natural_key_fields = ("department", "code")

    id = cuid_field()
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="filieres")
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["department", "code"], name="filiere_department_code_unique"
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
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(max_length=254)
    token = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.USER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="sent_invites"
    )

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
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="demandes")
    target_org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="demandes_received"
    )
    assigned_org = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="demandes_assigned",
    )
    filiere = models.ForeignKey(
        Filiere, null=True, blank=True, on_delete=models.SET_NULL, related_name="demandes"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.EN_ATTENTE)
    annee = models.CharField(max_length=9, null=True, blank=True)
    niveau = models.CharField(max_length=20, null=True, blank=True)
    motif = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.code


class DocumentPartage(TimestampedModel):
    id = cuid_field()
    demande_partage = models.ForeignKey(
        DemandePartage, on_delete=models.CASCADE, related_name="documents"
    )
    owner_org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="documents")
    type = models.CharField(max_length=50)
    mention = models.CharField(max_length=255, null=True, blank=True)
    date_obtention = models.DateField(null=True, blank=True)
    est_traduit = models.BooleanField(default=False)
    a_document = models.BooleanField(default=False)
    code_adn = models.CharField(max_length=64, unique=True, null=True, blank=True)
    file_path = models.CharField(max_length=500, null=True, blank=True)
    mime_type = models.CharField(max_length=255, null=True, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    blockchain_hash = models.CharField(max_length=128, null=True, blank=True)
    encrypted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.type} ({self.id})"


class BlockchainBlock(models.Model):
    id = cuid_field()
    index = models.IntegerField(unique=True)
    document_partage = models.ForeignKey(
        DocumentPartage, null=True, blank=True, on_delete=models.SET_NULL, related_name="blocks"
    )
    previous_block = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_blocks"
    )
    hash = models.CharField(max_length=128, unique=True)
    previous_hash = models.CharField(max_length=128)
    nonce = models.BigIntegerField()
    data = models.JSONField()
    timestamp = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

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
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="abonnements"
    )
    plan = models.CharField(max_length=20, choices=Plan.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    auto_renew = models.BooleanField(default=False)

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
    demande_partage = models.ForeignKey(
        DemandePartage, on_delete=models.CASCADE, related_name="transactions"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    montant = models.DecimalField(max_digits=12, decimal_places=2)
    type_paiement = models.CharField(max_length=20, choices=TypePaiement.choices)
    type_transaction = models.CharField(max_length=255, null=True, blank=True)
    statut = models.CharField(max_length=20, choices=Statut.choices, default=Statut.PENDING)
    reference = models.CharField(max_length=64, unique=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.reference


class Payment(TimestampedModel):
    natural_key_fields = ("provider", "provider_ref")

    id = cuid_field()
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    demande_partage = models.ForeignKey(
        DemandePartage, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    abonnement = models.ForeignKey(
        Abonnement, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    provider = models.CharField(max_length=30)
    provider_ref = models.CharField(max_length=128)
    status = models.CharField(max_length=30)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    metadata = models.JSONField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_ref"], name="payment_provider_ref_unique"
            )
        ]

    def __str__(self):
        return f"{self.provider}:{self.provider_ref}"


class ContactMessage(TimestampedModel):
    id = cuid_field()
    name = models.CharField(max_length=255)
    email = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255, null=True, blank=True)
    message = models.TextField()
    is_read = models.BooleanField(default=False)

    def __str__(self):
        return f"{self.name}: {self.subject or ''}"


class Configuration(TimestampedModel):
    natural_key_fields = ("key",)

    id = cuid_field()
    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField()
    description = models.TextField(null=True, blank=True)

    def __str__(self):
        return self.key


class SiteSettings(TimestampedModel):
    natural_key_fields = ("id",)  # the one row, id "default"

    id = cuid_field()
    site_name = models.CharField(max_length=255)
    contact_email = models.EmailField(max_length=254, null=True, blank=True)
    logo_url = models.CharField(max_length=500, null=True, blank=True)
    maintenance_mode = models.BooleanField(default=False)
    extra = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "site settings"

    def __str__(self):
        return self.site_name


class AuditLog(models.Model):
    id = models.AutoField(primary_key=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_logs"
    )
    action = models.CharField(max_length=100)
    entity = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=64, null=True, blank=True)
    details = models.JSONField(null=True, blank=True)
    ip_address = models.CharField(max_length=45, null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.action} {self.entity} {self.entity_id or ''}"
