"""The demo data set of `seeddemo`: deterministic, realistic rows in all 16 domain tables.

The structure (ids, creation times, which row points to which) is a function of
(seed, table, row number), so a child names its parent without keeping parent rows in
memory; the values come from the factories, seeded with the same seed.
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from itertools import islice

import factory.random
from django.db import connections, router, transaction
from django.db.models import Model

from core import factories as f
from core import models
from core.cuid import format_cuid

BATCH_SIZE = 1000
CHUNK_SIZE = 5000
PROGRESS_STEP = 50  # rows made between two moves of a progress bar

# Rows per unit of --scale (organizations and everything that hangs from them).
ROWS_PER_SCALE = {
    "organizations": 10,
    "users": 60,
    "departments": 30,
    "filieres": 60,
    "organizationInvites": 20,
    "demandePartages": 150,
    "documentPartages": 150,
    "blockchainBlocks": 150,
    "abonnements": 15,
    "transactions": 150,
    "payments": 120,
    "contactMessages": 30,
    "auditLogs": 200,
}
# Reference tables, the same at every scale.
FIXED_ROWS = {"permissions": 20, "configurations": 10, "siteSettings": 1}

# Models in an order that satisfies every non-deferred foreign key; deleted in reverse.
DOMAIN_MODELS = {
    "permissions": models.Permission,
    "organizations": models.Organization,
    "users": models.User,
    "departments": models.Department,
    "filieres": models.Filiere,
    "organizationInvites": models.OrganizationInvite,
    "demandePartages": models.DemandePartage,
    "documentPartages": models.DocumentPartage,
    "blockchainBlocks": models.BlockchainBlock,
    "abonnements": models.Abonnement,
    "transactions": models.Transaction,
    "payments": models.Payment,
    "contactMessages": models.ContactMessage,
    "configurations": models.Configuration,
    "siteSettings": models.SiteSettings,
    "auditLogs": models.AuditLog,
}
USER_PERMISSIONS = "users.permissions"
USERS_PER_ORGANIZATION = 6  # the last of each six users belongs to no organization


class DatabaseNotEmpty(Exception):
    """The target database already holds domain rows (and replacing them was not asked)."""

    def __init__(self, using: str, tables: list[str]):
        self.using = using
        self.tables = tables
        super().__init__(
            f"The database '{using}' already holds domain rows in {', '.join(tables)}."
        )


def non_empty_tables(using: str) -> list[str]:
    """Return the file keys of the domain tables of `using` that hold rows."""
    return [key for key, model in DOMAIN_MODELS.items() if model.objects.using(using).exists()]


def row_counts(scale: int) -> dict[str, int]:
    """Return how many rows `seed_demo` writes per table at `scale`."""
    counts = {key: rows * scale for key, rows in ROWS_PER_SCALE.items()}
    return {key: FIXED_ROWS.get(key) or counts[key] for key in DOMAIN_MODELS}


class Table:
    """Ids, creation times and parent choices of one table's rows, from their row number."""

    def __init__(self, seed: int, number: int, count: int, span: timedelta = f.SPAN):
        self.seed, self.number, self.count = seed, number, count
        self.step = max(1, int(span.total_seconds() * 1000) // max(count, 1))

    def digest(self, row: int, salt: str = "") -> int:
        data = f"{self.seed}/{self.number}/{row}/{salt}".encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    def millis(self, row: int, digest: int | None = None) -> int:
        # Increasing with the row number: row order is creation order.
        digest = self.digest(row) if digest is None else digest
        return f.BASE_MILLIS + row * self.step + digest % self.step

    def created_at(self, row: int):
        return f.BASE_TIME + timedelta(milliseconds=self.millis(row) - f.BASE_MILLIS)

    def id(self, row: int) -> str:
        digest = self.digest(row)
        return format_cuid(self.millis(row, digest), row, self.number, digest >> 23)

    def pick(self, child: "Table", row: int, salt: str) -> int:
        """A row of this table created before `child`'s row `row` (the first one at the start)."""
        bound = max(1, row * self.count // child.count)
        return child.digest(row, salt) % bound

    def chance(self, row: int, salt: str, percent: int) -> bool:
        return self.digest(row, salt) % 100 < percent


class DemoPlan:
    """The structure of the data set: every table's rows and how they link."""

    def __init__(self, *, scale: int, seed: int):
        self.counts = row_counts(scale)
        small = timedelta(days=2)
        self.tables = {
            key: Table(seed, number, count, small if key in FIXED_ROWS else f.SPAN)
            for number, (key, count) in enumerate(self.counts.items(), start=1)
        }

    def __getattr__(self, key) -> Table:
        try:
            return self.__dict__["tables"][key]
        except KeyError:
            raise AttributeError(key) from None

    # Users: `USERS_PER_ORGANIZATION` rounds over the organizations, the last one unaffiliated.
    def user_organization(self, user: int) -> int | None:
        round_, organization = divmod(user, self.organizations.count)
        return (
            None if round_ % USERS_PER_ORGANIZATION == USERS_PER_ORGANIZATION - 1 else organization
        )

    def organization_owner(self, organization: int) -> int | None:
        # Every fourth organization has no owner; the others are owned by their first member.
        return None if organization % 4 == 3 else organization

    def department_organization(self, department: int) -> int:
        return department % self.organizations.count

    def filiere_department(self, filiere: int) -> int:
        return filiere % self.departments.count

    def demande_user(self, demande: int) -> int:
        return self.users.pick(self.demandePartages, demande, "user")

    def demande_target(self, demande: int) -> int:
        return self.organizations.pick(self.demandePartages, demande, "target")

    def document_demande(self, document: int) -> int:
        return self.demandePartages.pick(self.documentPartages, document, "demande")

    def document_code_adn(self, document: int) -> str | None:
        table = self.documentPartages
        if table.chance(document, "adn-null", 20):
            return None
        return f"ADN{table.digest(document, 'adn'):016X}{document:08d}"

    def transaction_demande(self, transaction_: int) -> int:
        return self.demandePartages.pick(self.transactions, transaction_, "demande")


def seed_demo(
    *,
    scale: int = 1,
    seed: int = 42,
    using: str | None = None,
    replace: bool = False,
    on_table=None,
) -> dict[str, int]:
    """Write the demo data set into `using` and return the rows written per table.

    `on_table(key, expected_rows)` is called before each table and may return a callback
    taking a number of rows written (for progress).

    Raises `DatabaseNotEmpty` when a domain table holds rows, unless `replace`, which
    deletes them first (in the same transaction).
    """
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    using = using or router.db_for_write(models.Organization)
    with transaction.atomic(using=using):
        existing = non_empty_tables(using)
        if existing and not replace:
            raise DatabaseNotEmpty(using, existing)
        if existing:
            delete_domain_rows(using)
        factory.random.reseed_random(seed)
        # Sequences number the unique values (slugs, e-mails): row number = sequence.
        for factory_class in f.ALL_FACTORIES:
            factory_class.reset_sequence(0)
        counts = _Writer(DemoPlan(scale=scale, seed=seed), using, on_table).write()
    return counts


def delete_domain_rows(using: str) -> None:
    """Delete every row of the domain tables of `using` (no cascade walk: whole tables)."""
    connection = connections[using]
    tables = [models.User.permissions.through._meta.db_table]
    tables += [model._meta.db_table for model in reversed(DOMAIN_MODELS.values())]
    with connection.cursor() as cursor:
        # The Organization <-> User cycle: unlink first so the order does not matter.
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(models.Organization._meta.db_table)} SET "
            f"{connection.ops.quote_name(models.Organization.owner.field.column)} = NULL"
        )
        for table in tables:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _made(rows: Iterable[Model], on_rows=None) -> Iterator[Model]:
    """The rows, telling `on_rows` (or nobody) how many were made, PROGRESS_STEP at a time:
    making them is the slow part, and a table of the demo often fits in one chunk, whose
    insert alone would move a bar from empty to full at once."""
    made = 0
    for made, row in enumerate(rows, start=1):
        yield row
        if on_rows and made % PROGRESS_STEP == 0:
            on_rows(PROGRESS_STEP)
    if on_rows and made % PROGRESS_STEP:
        on_rows(made % PROGRESS_STEP)


def _build(factory_class, links: dict[str, str | int | None] | None = None, **values) -> Model:
    """`factory_class.build(**values)` with foreign keys given as ids (no related objects)."""
    links = links or {}
    instance = factory_class.build(**{name: None for name in links}, **values)
    for name, value in links.items():
        setattr(instance, f"{name}_id", value)
    return instance


class _Writer:
    def __init__(self, plan: DemoPlan, using: str, on_table=None):
        self.plan = plan
        self.using = using
        self.on_table = on_table

    def write(self) -> dict[str, int]:
        counts = {}
        expected = self.plan.counts
        for key in DOMAIN_MODELS:
            rows: Callable[[], Iterable[Model]] = getattr(self, f"_{key}")
            on_rows = self.on_table(key, expected.get(key)) if self.on_table else None
            counts[key] = self._insert(DOMAIN_MODELS[key], rows(), on_rows)
            if key == "users":
                counts[USER_PERMISSIONS] = self._insert(
                    models.User.permissions.through, self._user_permissions()
                )
                self._link_owners()
        self._reset_sequences()
        return counts

    def _insert(self, model: type[Model], rows: Iterable[Model], on_rows=None) -> int:
        written = 0
        for chunk in _chunks(_made(rows, on_rows), CHUNK_SIZE):
            model.objects.using(self.using).bulk_create(chunk, batch_size=BATCH_SIZE)
            written += len(chunk)
        return written

    def _reset_sequences(self) -> None:
        from django.core.management.color import no_style

        connection = connections[self.using]
        statements = connection.ops.sequence_reset_sql(no_style(), [models.AuditLog])
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def _rows(self, key: str) -> Iterator[tuple[int, Table, dict]]:
        """Row numbers of table `key` with their id and creation time as build values."""
        table = self.plan.tables[key]
        for row in range(table.count):
            id_ = table.id(row)
            created_at = f.BASE_TIME + timedelta(milliseconds=table.millis(row) - f.BASE_MILLIS)
            yield row, table, {"id": id_, "created_at": created_at}

    def _permissions(self):
        for _row, _, values in self._rows("permissions"):
            yield f.PermissionFactory.build(**values)

    def _organizations(self):
        self.slugs = []  # small (10 per scale), needed by the documents' file paths
        for _row, _, values in self._rows("organizations"):
            organization = f.OrganizationFactory.build(**values)
            self.slugs.append(organization.slug)
            yield organization

    def _users(self):
        plan = self.plan
        for row, _, values in self._rows("users"):
            organization = plan.user_organization(row)
            user = _build(
                f.UserFactory,
                {
                    "organization": plan.organizations.id(organization)
                    if organization is not None
                    else None
                },
                **values,
            )
            if organization is not None and plan.organization_owner(organization) == row:
                user.role = models.Role.ORG_ADMIN
            elif organization is None and row % plan.organizations.count < 2:
                # Platform staff: the first unaffiliated users of each round.
                user.role = models.Role.SUPERADMIN if row % 2 == 0 else models.Role.ADMIN
            yield user

    def _user_permissions(self):
        plan = self.plan
        through = models.User.permissions.through
        rng = factory.random.randgen
        for user in range(plan.users.count):
            user_id = plan.users.id(user)
            for permission in sorted(rng.sample(range(plan.permissions.count), rng.randint(0, 4))):
                yield through(user_id=user_id, permission_id=plan.permissions.id(permission))

    def _link_owners(self):
        plan = self.plan
        owned = (
            models.Organization(id=plan.organizations.id(row), owner_id=plan.users.id(owner))
            for row in range(plan.organizations.count)
            if (owner := plan.organization_owner(row)) is not None
        )
        for chunk in _chunks(owned, CHUNK_SIZE):
            models.Organization.objects.using(self.using).bulk_update(
                chunk, ["owner"], batch_size=BATCH_SIZE
            )

    def _departments(self):
        plan = self.plan
        per_org = plan.organizations.count
        for row, _, values in self._rows("departments"):
            organization = plan.department_organization(row)
            yield _build(
                f.DepartmentFactory,
                {"organization": plan.organizations.id(organization)},
                code=f"DEP{row // per_org + 1:02d}",
                **values,
            )

    def _filieres(self):
        plan = self.plan
        per_department = plan.departments.count
        for row, _, values in self._rows("filieres"):
            yield _build(
                f.FiliereFactory,
                {"department": plan.departments.id(plan.filiere_department(row))},
                code=f"FIL{row // per_department + 1:02d}",
                **values,
            )

    def _organizationInvites(self):
        plan = self.plan
        for row, table, values in self._rows("organizationInvites"):
            organization = plan.organizations.pick(table, row, "organization")
            inviter = plan.organization_owner(organization)
            yield _build(
                f.OrganizationInviteFactory,
                {
                    "organization": plan.organizations.id(organization),
                    "invited_by": plan.users.id(inviter) if inviter is not None else None,
                },
                **values,
            )

    def _demandePartages(self):
        plan = self.plan
        previous_minute, collisions = None, 0
        for row, table, values in self._rows("demandePartages"):
            target = plan.demande_target(row)
            # A filiere of the target organization (filiere -> department -> organization
            # are both `row % count`, and the counts are multiples of each other).
            filiere = target + plan.organizations.count * (table.digest(row, "filiere") % 6)
            minute = f"DP{values['created_at']:%Y%m%d%H%M}"
            collisions = collisions + 1 if minute == previous_minute else 0
            previous_minute = minute
            yield _build(
                f.DemandePartageFactory,
                {
                    "user": plan.users.id(plan.demande_user(row)),
                    "target_org": plan.organizations.id(target),
                    "assigned_org": plan.organizations.id(
                        plan.organizations.pick(table, row, "assigned")
                    )
                    if table.chance(row, "assigned", 40)
                    else None,
                    "filiere": plan.filieres.id(filiere)
                    if table.chance(row, "filiere", 60)
                    else None,
                },
                code=f"{minute}{collisions:02d}" if collisions else minute,
                **values,
            )

    def _documentPartages(self):
        plan = self.plan
        for row, _, values in self._rows("documentPartages"):
            target = plan.demande_target(plan.document_demande(row))
            document = _build(
                f.DocumentPartageFactory,
                {
                    "demande_partage": plan.demandePartages.id(plan.document_demande(row)),
                    "owner_org": plan.organizations.id(target),
                },
                code_adn=plan.document_code_adn(row),
                file_path=None,
                **values,
            )
            if document.a_document:
                document.file_path = f"documents/{self.slugs[target]}/{document.id}.pdf"
                document.mime_type = "application/pdf"
                document.file_size = factory.random.randgen.randrange(20_000, 8_000_000)
            yield document

    def _blockchainBlocks(self):
        plan = self.plan
        documents = plan.documentPartages
        previous_hash = f.GENESIS_HASH
        for row, table, values in self._rows("blockchainBlocks"):
            document = (
                row - 1 if 0 < row <= documents.count and not table.chance(row, "doc", 10) else None
            )
            block = _build(
                f.BlockchainBlockFactory,
                {
                    "document_partage": documents.id(document) if document is not None else None,
                    "previous_block": table.id(row - 1) if row else None,
                },
                index=row,
                previous_hash=previous_hash,
                timestamp=values["created_at"],
                **values,
            )
            if document is not None:
                block.data["document"]["id"] = documents.id(document)
                block.data["document"]["codeAdn"] = plan.document_code_adn(document)
                block.hash = f.block_hash(
                    row, previous_hash, block.timestamp, block.data, block.nonce
                )
            previous_hash = block.hash
            yield block

    def _abonnements(self):
        plan = self.plan
        for row, _, values in self._rows("abonnements"):
            yield _build(
                f.AbonnementFactory,
                {"organization": plan.organizations.id(row % plan.organizations.count)},
                **values,
            )

    def _transactions(self):
        plan = self.plan
        for row, table, values in self._rows("transactions"):
            demande = plan.transaction_demande(row)
            yield _build(
                f.TransactionFactory,
                {
                    "demande_partage": plan.demandePartages.id(demande),
                    "user": None
                    if table.chance(row, "user", 10)
                    else plan.users.id(plan.demande_user(demande)),
                },
                reference=f"TRX-{values['created_at']:%Y%m%d}-{row + 1:07d}",
                **values,
            )

    def _payments(self):
        plan = self.plan
        for row, table, values in self._rows("payments"):
            links = {"transaction": None, "demande_partage": None, "abonnement": None}
            if table.chance(row, "abonnement", 25):
                links["abonnement"] = plan.abonnements.id(
                    plan.abonnements.pick(table, row, "abonnement")
                )
            elif not table.chance(row, "orphan", 5):
                transaction_ = plan.transactions.pick(table, row, "transaction")
                links["transaction"] = plan.transactions.id(transaction_)
                links["demande_partage"] = plan.demandePartages.id(
                    plan.transaction_demande(transaction_)
                )
            yield _build(f.PaymentFactory, links, **values)

    def _contactMessages(self):
        for _row, _, values in self._rows("contactMessages"):
            yield f.ContactMessageFactory.build(**values)

    def _configurations(self):
        for row, _, values in self._rows("configurations"):
            key, round_ = CONFIGURATION_KEYS[row % 10], row // 10
            yield f.ConfigurationFactory.build(key=f"{key}.{round_}" if round_ else key, **values)

    def _siteSettings(self):
        for _row, _, values in self._rows("siteSettings"):
            yield f.SiteSettingsFactory.build(**{**values, "id": "default"})

    def _auditLogs(self):
        plan = self.plan
        entities = [
            ("DemandePartage", plan.demandePartages),
            ("DocumentPartage", plan.documentPartages),
            ("Transaction", plan.transactions),
            ("User", plan.users),
            ("Organization", plan.organizations),
        ]
        for row, table, values in self._rows("auditLogs"):
            entity, entity_table = entities[table.digest(row, "entity") % len(entities)]
            values["id"] = row + 1
            yield _build(
                f.AuditLogFactory,
                {
                    "user": None
                    if table.chance(row, "anonymous", 15)
                    else plan.users.id(plan.users.pick(table, row, "user"))
                },
                entity=entity,
                entity_id=entity_table.id(entity_table.pick(table, row, "entity")),
                **values,
            )


CONFIGURATION_KEYS = [
    "paiement.frais_dossier",
    "paiement.devises",
    "demandes.delai_traitement_jours",
    "documents.taille_max_mo",
    "documents.types_acceptes",
    "notifications.email",
    "notifications.sms",
    "blockchain.difficulte",
    "securite.tentatives_connexion",
    "interface.messages_accueil",
]
