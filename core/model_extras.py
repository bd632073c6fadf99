"""What `schema.prisma` does not say about the platform's models: hand-written, never generated.

`inspectprisma` writes core/models.py from the schema and from this module: per model its
transfer declaration, docstring, verbose names, `__str__` and the related names that differ
from Prisma's; per enum the choices class that holds it and the labels shown in the admin.
A model or an enum that is not named here gets the defaults (see docs/schema-changes.md).
A label is a message (`"name"`, written `_("name")`) or a (context, message) pair
(`pgettext_lazy(context, message)`).
"""

from dataclasses import dataclass, field

from datatransfer.declarations import APPEND_ONLY, IMMUTABLE, Transfer

Label = str | tuple[str, str]


@dataclass(frozen=True)
class ModelExtras:
    doc: str = ""
    # Comment lines written above the transfer declaration (why it says what it says).
    comment: str = ""
    transfer: Transfer | None = None
    verbose_name: Label | None = None
    verbose_name_plural: Label | None = None
    # The expression `__str__` returns, in terms of `self`.
    str_expression: str | None = None
    # Verbose names of the fields, by Django attribute name (`password_hash`, `organization`).
    labels: dict[str, Label] = field(default_factory=dict)
    # Related names of relations, by attribute name, where Prisma's back-relation name is
    # not the one the code uses.
    related_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnumExtras:
    # The model whose nested choices class holds the enum (None: at module level).
    owner: str | None = None
    class_name: str | None = None
    labels: dict[str, Label] = field(default_factory=dict)


ENUMS = {
    "Role": EnumExtras(
        labels={
            "SUPERADMIN": "Super administrator",
            "ADMIN": "Administrator",
            "ORG_ADMIN": "Organization administrator",
            "AGENT": "Agent",
            "USER": "User",
        }
    ),
    "OrganizationType": EnumExtras(
        owner="Organization",
        class_name="Type",
        labels={
            "UNIVERSITE": "Université",
            "ECOLE": "École",
            "ENTREPRISE": "Entreprise",
            "ADMINISTRATION": "Administration",
            "AUTRE": "Autre",
        },
    ),
    "InviteStatus": EnumExtras(
        owner="OrganizationInvite",
        class_name="Status",
        labels={
            "PENDING": ("invitation", "Pending"),
            "ACCEPTED": ("invitation", "Accepted"),
            "EXPIRED": ("invitation", "Expired"),
            "REVOKED": ("invitation", "Revoked"),
        },
    ),
    "DemandeStatus": EnumExtras(
        owner="DemandePartage",
        class_name="Status",
        labels={
            "EN_ATTENTE": "En attente",
            "EN_COURS": "En cours",
            "VALIDEE": "Validée",
            "REJETEE": "Rejetée",
            "ANNULEE": "Annulée",
        },
    ),
    "Plan": EnumExtras(
        owner="Abonnement",
        labels={
            "GRATUIT": "Gratuit",
            "STANDARD": "Standard",
            "PREMIUM": "Premium",
            "ENTREPRISE": "Entreprise",
        },
    ),
    "AbonnementStatus": EnumExtras(
        owner="Abonnement",
        class_name="Status",
        labels={
            "ACTIVE": ("subscription", "Active"),
            "EXPIRED": ("subscription", "Expired"),
            "CANCELED": ("subscription", "Canceled"),
            "TRIAL": ("subscription", "Trial"),
        },
    ),
    "TypePaiement": EnumExtras(
        owner="Transaction",
        labels={
            "MOBILE_MONEY": "Mobile money",
            "BANK_TRANSFER": "Bank transfer",
            "CARD": "Card",
            "CASH": "Cash",
        },
    ),
    "StatutTransaction": EnumExtras(
        owner="Transaction",
        class_name="Statut",
        labels={
            "PENDING": ("transaction", "Pending"),
            "SUCCESS": ("transaction", "Succeeded"),
            "FAILED": ("transaction", "Failed"),
            "CANCELED": ("transaction", "Canceled"),
        },
    ),
}

MODELS = {
    "Permission": ModelExtras(
        transfer=Transfer(natural_key=("key",)),
        verbose_name="permission",
        verbose_name_plural="permissions",
        str_expression="self.key",
        labels={"key": "key", "label": "label", "description": "description"},
    ),
    "Organization": ModelExtras(
        comment="An organization's name is public: it names no person.",
        transfer=Transfer(
            natural_key=("slug",),
            subset_root="slug",
            masks={"email": "email", "phone": "phone", "address": "text"},
            not_personal=("name",),
        ),
        verbose_name="organization",
        verbose_name_plural="organizations",
        str_expression="self.name",
        labels={
            "name": "name",
            "slug": "slug",
            "type": "type",
            "email": "email",
            "phone": "phone",
            "address": "address",
            "country": "country",
            "is_active": "active",
            "owner": "owner",
        },
    ),
    "User": ModelExtras(
        doc="A user of the document-sharing platform (not a login of this project's admin).",
        transfer=Transfer(
            secrets=("password_hash",),
            natural_key=("email",),
            masks={
                "email": "email",
                "password_hash": "password",
                "first_name": "first_name",
                "last_name": "last_name",
                "phone": "phone",
            },
        ),
        verbose_name="user",
        verbose_name_plural="users",
        str_expression="self.email",
        labels={
            "email": "email",
            "password_hash": "password hash",
            "first_name": "first name",
            "last_name": "last name",
            "phone": "phone",
            "role": "role",
            "is_active": "active",
            "email_verified_at": "email verified at",
            "last_login_at": "last login at",
            "organization": "organization",
            "permissions": "permissions",
        },
        related_names={"organization": "members"},
    ),
    "PermissionToUser": ModelExtras(
        doc=(
            "Prisma's implicit many-to-many table of `User.permissions`: `A` is the permission,\n"
            "`B` the user. A link table travels as the users' `permissionKeys`, not as a table."
        ),
        verbose_name="user's permission",
        verbose_name_plural="users' permissions",
        labels={"permission": "permission", "user": "user"},
    ),
    "Department": ModelExtras(
        transfer=Transfer(natural_key=("organization", "code"), not_personal=("name",)),
        verbose_name="department",
        verbose_name_plural="departments",
        str_expression='f"{self.code} {self.name}"',
        labels={"organization": "organization", "name": "name", "code": "code"},
    ),
    "Filiere": ModelExtras(
        transfer=Transfer(natural_key=("department", "code"), not_personal=("name",)),
        verbose_name="study track",
        verbose_name_plural="study tracks",
        str_expression='f"{self.code} {self.name}"',
        labels={"department": "department", "name": "name", "code": "code"},
    ),
    "OrganizationInvite": ModelExtras(
        transfer=Transfer(secrets=("token",), masks={"email": "email", "token": "token"}),
        verbose_name="organization invitation",
        verbose_name_plural="organization invitations",
        str_expression='f"{self.email} -> {self.organization_id}"',
        labels={
            "organization": "organization",
            "email": "email",
            "token": "token",
            "role": "role",
            "status": "status",
            "expires_at": "expires at",
            "invited_by": "invited by",
        },
        related_names={"invited_by": "sent_invites"},
    ),
    "DemandePartage": ModelExtras(
        transfer=Transfer(natural_key=("code",), masks={"motif": "text", "metadata": "json"}),
        verbose_name="sharing request",
        verbose_name_plural="sharing requests",
        str_expression="self.code",
        labels={
            "code": "code",
            "user": "user",
            "target_org": "target organization",
            "assigned_org": "assigned organization",
            "filiere": "study track",
            "status": "status",
            "annee": "academic year",
            "niveau": "level",
            "motif": "reason",
            "metadata": "metadata",
            "deleted_at": "deleted at",
        },
        related_names={
            "target_org": "demandes_received",
            "assigned_org": "demandes_assigned",
        },
    ),
    "DocumentPartage": ModelExtras(
        comment=(
            "`file_path`: the uploaded file's path under MEDIA_ROOT (a column, not a FileField);\n"
            "`blockchain_hash` is its fingerprint."
        ),
        transfer=Transfer(file_fields=("file_path",), not_personal=("blockchain_hash",)),
        verbose_name="shared document",
        verbose_name_plural="shared documents",
        str_expression='f"{self.type} ({self.id})"',
        labels={
            "demande_partage": "sharing request",
            "owner_org": "owner organization",
            "type": "type",
            "mention": "honours",
            "date_obtention": "date obtained",
            "est_traduit": "translated",
            "a_document": "has a document",
            "code_adn": "DNA code",
            "file_path": "file path",
            "mime_type": "MIME type",
            "file_size": "file size",
            "blockchain_hash": "blockchain hash",
            "encrypted_at": "encrypted at",
        },
    ),
    "BlockchainBlock": ModelExtras(
        comment=(
            "The hashes chain the blocks (no secret); `data` names the signatories: masked,\n"
            "a masked block no longer matches its hash."
        ),
        transfer=Transfer(
            policy=IMMUTABLE, masks={"data": "json"}, not_personal=("hash", "previous_hash")
        ),
        verbose_name="blockchain block",
        verbose_name_plural="blockchain blocks",
        str_expression='f"#{self.index}"',
        labels={
            "index": "index",
            "document_partage": "shared document",
            "previous_block": "previous block",
            "hash": "hash",
            "previous_hash": "previous hash",
            "nonce": "nonce",
            "data": "data",
            "timestamp": "timestamp",
            "created_at": "created at",
        },
    ),
    "Abonnement": ModelExtras(
        verbose_name="subscription",
        verbose_name_plural="subscriptions",
        str_expression='f"{self.plan} {self.organization_id}"',
        labels={
            "organization": "organization",
            "plan": "plan",
            "status": "status",
            "start_date": "start date",
            "end_date": "end date",
            "price": "price",
            "currency": "currency",
            "auto_renew": "automatic renewal",
        },
    ),
    "Transaction": ModelExtras(
        transfer=Transfer(natural_key=("reference",)),
        verbose_name="transaction",
        verbose_name_plural="transactions",
        str_expression="self.reference",
        labels={
            "demande_partage": "sharing request",
            "user": "user",
            "montant": "amount",
            "type_paiement": "payment method",
            "type_transaction": "transaction type",
            "statut": "status",
            "reference": "reference",
            "deleted_at": "deleted at",
        },
    ),
    "Payment": ModelExtras(
        transfer=Transfer(natural_key=("provider", "provider_ref"), masks={"metadata": "json"}),
        verbose_name="payment",
        verbose_name_plural="payments",
        str_expression='f"{self.provider}:{self.provider_ref}"',
        labels={
            "transaction": "transaction",
            "demande_partage": "sharing request",
            "abonnement": "subscription",
            "provider": "provider",
            "provider_ref": "provider reference",
            "status": "status",
            "amount": "amount",
            "currency": "currency",
            "metadata": "metadata",
            "paid_at": "paid at",
        },
    ),
    "ContactMessage": ModelExtras(
        transfer=Transfer(
            masks={"name": "full_name", "email": "email", "subject": "text", "message": "text"}
        ),
        verbose_name="contact message",
        verbose_name_plural="contact messages",
        str_expression="f\"{self.name}: {self.subject or ''}\"",
        labels={
            "name": "name",
            "email": "email",
            "subject": "subject",
            "message": "message",
            "is_read": "read",
        },
    ),
    "Configuration": ModelExtras(
        comment="The platform's settings: no personal data.",
        transfer=Transfer(natural_key=("key",), not_personal=("value",)),
        verbose_name="configuration",
        verbose_name_plural="configurations",
        str_expression="self.key",
        labels={"key": "key", "value": "value", "description": "description"},
    ),
    "SiteSettings": ModelExtras(
        comment='The one row, id "default". The site\'s name and settings name no person.',
        transfer=Transfer(
            natural_key=("id",),
            masks={"contact_email": "email"},
            not_personal=("site_name", "extra"),
        ),
        verbose_name="site settings",
        verbose_name_plural="site settings",
        str_expression="self.site_name",
        labels={
            "site_name": "site name",
            "contact_email": "contact email",
            "logo_url": "logo URL",
            "maintenance_mode": "maintenance mode",
            "extra": "extra settings",
        },
    ),
    "AuditLog": ModelExtras(
        transfer=Transfer(
            policy=APPEND_ONLY,
            audit_log=True,
            masks={"details": "json", "ip_address": "ip"},
        ),
        verbose_name="audit log entry",
        verbose_name_plural="audit log",
        str_expression="f\"{self.action} {self.entity} {self.entity_id or ''}\"",
        labels={
            "user": "user",
            "action": "action",
            "entity": "entity",
            "entity_id": "entity ID",
            "details": "details",
            "ip_address": "IP address",
            "user_agent": "user agent",
            "created_at": "created at",
        },
    ),
}
