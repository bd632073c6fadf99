"""The platform's 16 tables, for a test copy or the demo.

The platform's own databases are made by Prisma and need no migration. On PostgreSQL this
migration runs the DDL that Prisma generates from the platform's schema
(`core/prisma/prisma-schema.sql`), so a copy is exactly the platform's: enum types,
`TIMESTAMP(3)`, constraint names, foreign keys that are checked at once. Elsewhere
(SQLite) Django creates the same tables and columns from the models.
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

import core.cuid
import core.fields

PRISMA_DDL = Path(__file__).resolve().parent.parent / "prisma" / "prisma-schema.sql"


def create_tables(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(PRISMA_DDL.read_text(encoding="utf-8"))
        return
    for model in apps.get_app_config("core").get_models():
        schema_editor.create_model(model)


def drop_tables(apps, schema_editor):
    connection = schema_editor.connection
    models_ = list(apps.get_app_config("core").get_models())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in models_:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            for field in {
                f.enum_name
                for m in models_
                for f in m._meta.local_fields
                if hasattr(f, "enum_name")
            }:
                cursor.execute(f"DROP TYPE IF EXISTS {connection.ops.quote_name(field)}")
        return
    for model in reversed(models_):
        schema_editor.delete_model(model)


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    state_operations = [
        migrations.CreateModel(
            name="Configuration",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("key", models.CharField(max_length=100, unique=True)),
                ("value", models.JSONField()),
                ("description", models.TextField(blank=True, null=True)),
            ],
            options={
                "db_table": "Configuration",
            },
        ),
        migrations.CreateModel(
            name="ContactMessage",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
                ("email", models.TextField()),
                ("subject", models.TextField(blank=True, null=True)),
                ("message", models.TextField()),
                ("is_read", models.BooleanField(db_column="isRead", default=False)),
            ],
            options={
                "db_table": "ContactMessage",
            },
        ),
        migrations.CreateModel(
            name="DemandePartage",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("code", models.CharField(max_length=30, unique=True)),
                (
                    "status",
                    core.fields.EnumField(
                        choices=[
                            ("EN_ATTENTE", "En attente"),
                            ("EN_COURS", "En cours"),
                            ("VALIDEE", "Validée"),
                            ("REJETEE", "Rejetée"),
                            ("ANNULEE", "Annulée"),
                        ],
                        default="EN_ATTENTE",
                        enum_name="DemandeStatus",
                    ),
                ),
                ("annee", models.CharField(blank=True, max_length=9, null=True)),
                ("niveau", models.CharField(blank=True, max_length=20, null=True)),
                ("motif", models.TextField(blank=True, null=True)),
                ("metadata", models.JSONField(blank=True, null=True)),
                (
                    "deleted_at",
                    core.fields.TimestampField(blank=True, db_column="deletedAt", null=True),
                ),
            ],
            options={
                "db_table": "DemandePartage",
            },
        ),
        migrations.CreateModel(
            name="Department",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
                ("code", models.CharField(max_length=50)),
            ],
            options={
                "db_table": "Department",
            },
        ),
        migrations.CreateModel(
            name="Organization",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                ("slug", models.CharField(max_length=200, unique=True)),
                (
                    "type",
                    core.fields.EnumField(
                        choices=[
                            ("UNIVERSITE", "Université"),
                            ("ECOLE", "École"),
                            ("ENTREPRISE", "Entreprise"),
                            ("ADMINISTRATION", "Administration"),
                            ("AUTRE", "Autre"),
                        ],
                        enum_name="OrganizationType",
                    ),
                ),
                ("email", models.TextField(blank=True, null=True)),
                ("phone", models.TextField(blank=True, null=True)),
                ("address", models.TextField(blank=True, null=True)),
                ("country", models.CharField(blank=True, max_length=2, null=True)),
                ("is_active", models.BooleanField(db_column="isActive", default=True)),
            ],
            options={
                "db_table": "Organization",
            },
        ),
        migrations.CreateModel(
            name="Permission",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("key", models.CharField(max_length=100, unique=True)),
                ("label", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True, null=True)),
            ],
            options={
                "db_table": "Permission",
            },
        ),
        migrations.CreateModel(
            name="SiteSettings",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                ("id", models.TextField(default="default", primary_key=True, serialize=False)),
                ("site_name", models.TextField(db_column="siteName")),
                (
                    "contact_email",
                    models.TextField(blank=True, db_column="contactEmail", null=True),
                ),
                ("logo_url", models.TextField(blank=True, db_column="logoUrl", null=True)),
                (
                    "maintenance_mode",
                    models.BooleanField(db_column="maintenanceMode", default=False),
                ),
                ("extra", models.JSONField(blank=True, null=True)),
            ],
            options={
                "verbose_name_plural": "site settings",
                "db_table": "SiteSettings",
            },
        ),
        migrations.CreateModel(
            name="DocumentPartage",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("type", models.CharField(max_length=50)),
                ("mention", models.TextField(blank=True, null=True)),
                (
                    "date_obtention",
                    models.DateField(blank=True, db_column="dateObtention", null=True),
                ),
                ("est_traduit", models.BooleanField(db_column="estTraduit", default=False)),
                ("a_document", models.BooleanField(db_column="aDocument", default=False)),
                (
                    "code_adn",
                    models.CharField(
                        blank=True, db_column="codeAdn", max_length=64, null=True, unique=True
                    ),
                ),
                (
                    "file_path",
                    models.CharField(blank=True, db_column="filePath", max_length=500, null=True),
                ),
                ("mime_type", models.TextField(blank=True, db_column="mimeType", null=True)),
                ("file_size", models.BigIntegerField(blank=True, db_column="fileSize", null=True)),
                (
                    "blockchain_hash",
                    models.CharField(
                        blank=True, db_column="blockchainHash", max_length=128, null=True
                    ),
                ),
                (
                    "encrypted_at",
                    core.fields.TimestampField(blank=True, db_column="encryptedAt", null=True),
                ),
                (
                    "demande_partage",
                    models.ForeignKey(
                        db_column="demandePartageId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="documents",
                        to="core.demandepartage",
                    ),
                ),
                (
                    "owner_org",
                    models.ForeignKey(
                        db_column="ownerOrgId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="documents",
                        to="core.organization",
                    ),
                ),
            ],
            options={
                "db_table": "DocumentPartage",
            },
        ),
        migrations.CreateModel(
            name="BlockchainBlock",
            fields=[
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("index", models.IntegerField(unique=True)),
                ("hash", models.CharField(max_length=128, unique=True)),
                ("previous_hash", models.CharField(db_column="previousHash", max_length=128)),
                ("nonce", models.BigIntegerField()),
                ("data", models.JSONField()),
                ("timestamp", core.fields.TimestampField()),
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "previous_block",
                    models.ForeignKey(
                        blank=True,
                        db_column="previousBlockId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="next_blocks",
                        to="core.blockchainblock",
                    ),
                ),
                (
                    "document_partage",
                    models.ForeignKey(
                        blank=True,
                        db_column="documentPartageId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="blocks",
                        to="core.documentpartage",
                    ),
                ),
            ],
            options={
                "db_table": "BlockchainBlock",
            },
        ),
        migrations.CreateModel(
            name="Filiere",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
                ("code", models.CharField(max_length=50)),
                (
                    "department",
                    models.ForeignKey(
                        db_column="departmentId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="filieres",
                        to="core.department",
                    ),
                ),
            ],
            options={
                "db_table": "Filiere",
            },
        ),
        migrations.AddField(
            model_name="demandepartage",
            name="filiere",
            field=models.ForeignKey(
                blank=True,
                db_column="filiereId",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="demandes",
                to="core.filiere",
            ),
        ),
        migrations.AddField(
            model_name="department",
            name="organization",
            field=models.ForeignKey(
                db_column="organizationId",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="departments",
                to="core.organization",
            ),
        ),
        migrations.AddField(
            model_name="demandepartage",
            name="assigned_org",
            field=models.ForeignKey(
                blank=True,
                db_column="assignedOrgId",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="demandes_assigned",
                to="core.organization",
            ),
        ),
        migrations.AddField(
            model_name="demandepartage",
            name="target_org",
            field=models.ForeignKey(
                db_column="targetOrgId",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="demandes_received",
                to="core.organization",
            ),
        ),
        migrations.CreateModel(
            name="Abonnement",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "plan",
                    core.fields.EnumField(
                        choices=[
                            ("GRATUIT", "Gratuit"),
                            ("STANDARD", "Standard"),
                            ("PREMIUM", "Premium"),
                            ("ENTREPRISE", "Entreprise"),
                        ],
                        enum_name="Plan",
                    ),
                ),
                (
                    "status",
                    core.fields.EnumField(
                        choices=[
                            ("ACTIVE", "Active"),
                            ("EXPIRED", "Expired"),
                            ("CANCELED", "Canceled"),
                            ("TRIAL", "Trial"),
                        ],
                        default="ACTIVE",
                        enum_name="AbonnementStatus",
                    ),
                ),
                ("start_date", models.DateField(db_column="startDate")),
                ("end_date", models.DateField(blank=True, db_column="endDate", null=True)),
                ("price", models.DecimalField(decimal_places=2, max_digits=12)),
                ("currency", models.CharField(max_length=3)),
                ("auto_renew", models.BooleanField(db_column="autoRenew", default=False)),
                (
                    "organization",
                    models.ForeignKey(
                        db_column="organizationId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="abonnements",
                        to="core.organization",
                    ),
                ),
            ],
            options={
                "db_table": "Abonnement",
            },
        ),
        migrations.CreateModel(
            name="PermissionToUser",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "permission",
                        "user",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "permission",
                    models.ForeignKey(
                        db_column="A",
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="core.permission",
                    ),
                ),
            ],
            options={
                "db_table": "_PermissionToUser",
            },
        ),
        migrations.CreateModel(
            name="Transaction",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("montant", models.DecimalField(decimal_places=2, max_digits=12)),
                (
                    "type_paiement",
                    core.fields.EnumField(
                        choices=[
                            ("MOBILE_MONEY", "Mobile Money"),
                            ("BANK_TRANSFER", "Bank Transfer"),
                            ("CARD", "Card"),
                            ("CASH", "Cash"),
                        ],
                        db_column="typePaiement",
                        enum_name="TypePaiement",
                    ),
                ),
                (
                    "type_transaction",
                    models.TextField(blank=True, db_column="typeTransaction", null=True),
                ),
                (
                    "statut",
                    core.fields.EnumField(
                        choices=[
                            ("PENDING", "Pending"),
                            ("SUCCESS", "Success"),
                            ("FAILED", "Failed"),
                            ("CANCELED", "Canceled"),
                        ],
                        default="PENDING",
                        enum_name="StatutTransaction",
                    ),
                ),
                ("reference", models.CharField(max_length=64, unique=True)),
                (
                    "deleted_at",
                    core.fields.TimestampField(blank=True, db_column="deletedAt", null=True),
                ),
                (
                    "demande_partage",
                    models.ForeignKey(
                        db_column="demandePartageId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transactions",
                        to="core.demandepartage",
                    ),
                ),
            ],
            options={
                "db_table": "Transaction",
            },
        ),
        migrations.CreateModel(
            name="Payment",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("provider", models.CharField(max_length=30)),
                ("provider_ref", models.CharField(db_column="providerRef", max_length=128)),
                ("status", models.CharField(max_length=30)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("currency", models.CharField(max_length=3)),
                ("metadata", models.JSONField(blank=True, null=True)),
                ("paid_at", core.fields.TimestampField(blank=True, db_column="paidAt", null=True)),
                (
                    "abonnement",
                    models.ForeignKey(
                        blank=True,
                        db_column="abonnementId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="payments",
                        to="core.abonnement",
                    ),
                ),
                (
                    "demande_partage",
                    models.ForeignKey(
                        blank=True,
                        db_column="demandePartageId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="payments",
                        to="core.demandepartage",
                    ),
                ),
                (
                    "transaction",
                    models.ForeignKey(
                        blank=True,
                        db_column="transactionId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="payments",
                        to="core.transaction",
                    ),
                ),
            ],
            options={
                "db_table": "Payment",
            },
        ),
        migrations.CreateModel(
            name="User",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("email", models.CharField(max_length=254, unique=True)),
                ("password_hash", models.CharField(db_column="passwordHash", max_length=255)),
                ("first_name", models.TextField(blank=True, db_column="firstName", null=True)),
                ("last_name", models.TextField(blank=True, db_column="lastName", null=True)),
                ("phone", models.TextField(blank=True, null=True)),
                (
                    "role",
                    core.fields.EnumField(
                        choices=[
                            ("SUPERADMIN", "Superadmin"),
                            ("ADMIN", "Admin"),
                            ("ORG_ADMIN", "Org Admin"),
                            ("AGENT", "Agent"),
                            ("USER", "User"),
                        ],
                        default="USER",
                        enum_name="Role",
                    ),
                ),
                ("is_active", models.BooleanField(db_column="isActive", default=True)),
                (
                    "email_verified_at",
                    core.fields.TimestampField(blank=True, db_column="emailVerifiedAt", null=True),
                ),
                (
                    "last_login_at",
                    core.fields.TimestampField(blank=True, db_column="lastLoginAt", null=True),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        blank=True,
                        db_column="organizationId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="members",
                        to="core.organization",
                    ),
                ),
                (
                    "permissions",
                    models.ManyToManyField(
                        blank=True,
                        related_name="users",
                        through="core.PermissionToUser",
                        to="core.permission",
                    ),
                ),
            ],
            options={
                "db_table": "User",
            },
        ),
        migrations.AddField(
            model_name="transaction",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_column="userId",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="transactions",
                to="core.user",
            ),
        ),
        migrations.AddField(
            model_name="permissiontouser",
            name="user",
            field=models.ForeignKey(
                db_column="B", on_delete=django.db.models.deletion.CASCADE, to="core.user"
            ),
        ),
        migrations.CreateModel(
            name="OrganizationInvite",
            fields=[
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "updated_at",
                    core.fields.TimestampField(db_column="updatedAt", default=core.fields.now_ms),
                ),
                (
                    "id",
                    models.TextField(
                        default=core.cuid.new_cuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("email", models.TextField()),
                ("token", models.CharField(max_length=64, unique=True)),
                (
                    "role",
                    core.fields.EnumField(
                        choices=[
                            ("SUPERADMIN", "Superadmin"),
                            ("ADMIN", "Admin"),
                            ("ORG_ADMIN", "Org Admin"),
                            ("AGENT", "Agent"),
                            ("USER", "User"),
                        ],
                        default="USER",
                        enum_name="Role",
                    ),
                ),
                (
                    "status",
                    core.fields.EnumField(
                        choices=[
                            ("PENDING", "Pending"),
                            ("ACCEPTED", "Accepted"),
                            ("EXPIRED", "Expired"),
                            ("REVOKED", "Revoked"),
                        ],
                        default="PENDING",
                        enum_name="InviteStatus",
                    ),
                ),
                ("expires_at", core.fields.TimestampField(db_column="expiresAt")),
                (
                    "organization",
                    models.ForeignKey(
                        db_column="organizationId",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="invites",
                        to="core.organization",
                    ),
                ),
                (
                    "invited_by",
                    models.ForeignKey(
                        blank=True,
                        db_column="invitedById",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="sent_invites",
                        to="core.user",
                    ),
                ),
            ],
            options={
                "db_table": "OrganizationInvite",
            },
        ),
        migrations.AddField(
            model_name="organization",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_column="ownerId",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="owned_organizations",
                to="core.user",
            ),
        ),
        migrations.AddField(
            model_name="demandepartage",
            name="user",
            field=models.ForeignKey(
                db_column="userId",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="demandes",
                to="core.user",
            ),
        ),
        migrations.CreateModel(
            name="AuditLog",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("action", models.CharField(max_length=100)),
                ("entity", models.CharField(max_length=100)),
                (
                    "entity_id",
                    models.CharField(blank=True, db_column="entityId", max_length=64, null=True),
                ),
                ("details", models.JSONField(blank=True, null=True)),
                (
                    "ip_address",
                    models.CharField(blank=True, db_column="ipAddress", max_length=45, null=True),
                ),
                ("user_agent", models.TextField(blank=True, db_column="userAgent", null=True)),
                (
                    "created_at",
                    core.fields.TimestampField(db_column="createdAt", default=core.fields.now_ms),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        db_column="userId",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="audit_logs",
                        to="core.user",
                    ),
                ),
            ],
            options={
                "db_table": "AuditLog",
            },
        ),
        migrations.AddConstraint(
            model_name="filiere",
            constraint=models.UniqueConstraint(
                fields=("department", "code"), name="Filiere_departmentId_code_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="department",
            constraint=models.UniqueConstraint(
                fields=("organization", "code"), name="Department_organizationId_code_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.UniqueConstraint(
                fields=("provider", "provider_ref"), name="Payment_provider_providerRef_key"
            ),
        ),
    ]

    operations = [
        # The state first, so that create_tables sees the models.
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
        migrations.RunPython(create_tables, drop_tables),
    ]
