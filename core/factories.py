"""factory-boy factories for the 16 domain models: realistic French data.

Every random choice comes from factory-boy's generator (`factory.random.randgen`, shared
with Faker), so `factory.random.reseed_random(seed)` makes ids, timestamps and values
reproducible. Timestamps are offsets from `BASE_TIME`, never the clock.
"""

import hashlib
import json
import string
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
import faker
from django.utils.text import slugify
from factory.django import DjangoModelFactory
from factory.random import randgen

from core import models
from core.cuid import format_cuid

BASE_TIME = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
BASE_MILLIS = int(BASE_TIME.timestamp() * 1000)
SPAN_MILLIS = int(SPAN.total_seconds() * 1000)
# The fingerprint block of the ids these factories draw (any fixed value will do).
FINGERPRINT = 36**4 - 1
GENESIS_HASH = "0" * 64

# Shares Faker's module-level random generator, which `reseed_random` seeds.
fake = faker.Faker("fr_FR")


def fr(provider, **kwargs):
    """A Faker declaration in French."""
    return factory.Faker(provider, locale="fr_FR", **kwargs)


def random_cuid() -> str:
    return format_cuid(
        BASE_MILLIS + randgen.randrange(SPAN_MILLIS),
        randgen.randrange(36**4),
        FINGERPRINT,
        randgen.getrandbits(41),
    )


def random_moment() -> datetime:
    return BASE_TIME + timedelta(milliseconds=randgen.randrange(SPAN_MILLIS))


def later(moment: datetime, *, days: int) -> datetime:
    return moment + timedelta(milliseconds=randgen.randrange(days * 86_400_000))


def chance(probability: float) -> bool:
    return randgen.random() < probability


def sometimes(declaration, probability: float = 0.5):
    """`declaration` with the given probability, else None (for nullable fields)."""
    return factory.Maybe(
        factory.LazyFunction(lambda: chance(probability)),
        yes_declaration=declaration,
        no_declaration=None,
    )


def pick(values):
    return factory.LazyFunction(lambda: randgen.choice(values))


def money(low: int, high: int) -> Decimal:
    """An amount between `low` and `high` units, with cents."""
    return Decimal(randgen.randrange(low * 100, high * 100)) / 100


def hex_digest(nbytes: int) -> str:
    return f"{randgen.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def password_hash() -> str:
    alphabet = "./" + string.ascii_letters + string.digits
    return "$2b$10$" + "".join(randgen.choice(alphabet) for _ in range(53))


def ascii_name(value: str) -> str:
    return slugify(value).replace("-", "")


def block_hash(index: int, previous_hash: str, timestamp: datetime, data, nonce: int) -> str:
    """The SHA-256 of a block's content, chained by `previous_hash`."""
    payload = json.dumps(
        [index, previous_hash, timestamp.isoformat(), data, nonce],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def organization_name(type_: str) -> str:
    city = fake.city()
    return {
        "UNIVERSITE": lambda: f"Université de {city}",
        "ECOLE": lambda: (
            f"{randgen.choice(['École', 'Lycée', 'Institut'])} {fake.last_name()} de {city}"
        ),
        "ENTREPRISE": lambda: fake.company(),
        "ADMINISTRATION": lambda: (
            f"{randgen.choice(['Mairie', 'Préfecture', 'Rectorat'])} de {city}"
        ),
        "AUTRE": lambda: f"Association {fake.last_name()} — {city}",
    }[type_]()


def demande_metadata() -> dict:
    return {
        "source": randgen.choice(["web", "mobile", "guichet"]),
        "pièces": [
            {"type": randgen.choice(DOCUMENT_TYPES), "pages": randgen.randint(1, 12)}
            for _ in range(randgen.randint(1, 3))
        ],
        "contact": {
            "téléphone": fake.phone_number(),
            "préférence": randgen.choice(["e-mail", "SMS"]),
        },
        "urgence": chance(0.2),
        "note": randgen.choice(
            ["Merci d'avance 🙏", "Dossier complet ✅", "Besoin avant la rentrée 📚", ""]
        ),
    }


def audit_details(action: str) -> dict:
    before, after = randgen.sample(["EN_ATTENTE", "EN_COURS", "VALIDÉE", "REJETÉE", "ANNULÉE"], 2)
    return {
        "action": action.lower(),
        "changements": {"statut": {"avant": before, "après": after}} if action == "UPDATE" else {},
        "contexte": {"langue": "fr-FR", "canal": randgen.choice(["web", "mobile", "api"])},
        "commentaire": randgen.choice(["Vérifié par l'agent ✅", "Demande urgente ⚠️", "RAS", None]),
    }


def payment_metadata() -> dict:
    return {
        "client": {"nom": fake.name(), "pays": randgen.choice(COUNTRIES)},
        "frais": {"montant": str(money(0, 20)), "devise": "XOF"},
        "tentatives": randgen.randint(1, 3),
        "libellé": "Paiement des frais de dossier — réf. générée",
    }


PERMISSION_RESOURCES = [
    "transactions", "demandes", "documents", "organisations", "utilisateurs",
    "paiements", "abonnements", "rapports", "configuration", "audit",
]  # fmt: skip
PERMISSION_ACTIONS = [("read", "Consulter"), ("write", "Modifier"), ("delete", "Supprimer")]
COUNTRIES = ["FR", "SN", "CI", "BE", "MA", "CM", "CA", "TN"]
DEPARTMENTS = [
    "Mathématiques", "Informatique", "Droit privé", "Lettres modernes", "Économie",
    "Génie civil", "Médecine", "Sciences politiques", "Histoire-Géographie", "Chimie",
]  # fmt: skip
FILIERES = [
    "Licence Informatique", "Master Réseaux et Télécoms", "Licence Droit", "Master Finance",
    "BTS Comptabilité", "Licence Lettres", "Doctorat Chimie", "Master Génie logiciel",
    "Licence Économie-Gestion", "DUT Génie électrique",
]  # fmt: skip
NIVEAUX = [
    "Licence 1",
    "Licence 2",
    "Licence 3",
    "Master 1",
    "Master 2",
    "Doctorat",
    "BTS",
    "Terminale",
]
DOCUMENT_TYPES = ["DIPLOME", "RELEVE_NOTES", "ATTESTATION_REUSSITE", "CERTIFICAT_SCOLARITE"]
MENTIONS = ["Passable", "Assez bien", "Bien", "Très bien", "Félicitations du jury"]
PROVIDERS = ["orange_money", "wave", "mtn_momo", "stripe", "paydunya"]
PAYMENT_STATUSES = ["succeeded", "pending", "failed", "refunded"]
PLAN_PRICES = {"GRATUIT": 0, "STANDARD": 25_000, "PREMIUM": 75_000, "ENTREPRISE": 250_000}
AUDIT_ACTIONS = ["CREATE", "UPDATE", "DELETE", "LOGIN", "LOGOUT", "EXPORT", "VALIDATE", "REJECT"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 Chrome/120.0 Mobile",
]  # fmt: skip
EMOJI_SIGNOFFS = ["Merci beaucoup 🙏", "Bonne journée ☀️", "Cordialement 😊", "À bientôt 👋"]


class CuidFactory(DjangoModelFactory):
    """Base of the models with a CUID key and a creation time."""

    class Meta:
        abstract = True

    id = factory.LazyFunction(random_cuid)
    created_at = factory.LazyFunction(random_moment)


class TimestampedFactory(CuidFactory):
    class Meta:
        abstract = True

    updated_at = factory.LazyAttribute(lambda o: later(o.created_at, days=90))


class PermissionFactory(TimestampedFactory):
    class Meta:
        model = models.Permission

    key = factory.Sequence(
        lambda n: (
            f"{PERMISSION_RESOURCES[n % 10]}.{PERMISSION_ACTIONS[n // 10 % 3][0]}"
            + (f"{n // 30}" if n >= 30 else "")
        )
    )
    label = factory.LazyAttribute(
        lambda o: (
            f"{dict(PERMISSION_ACTIONS)[o.key.split('.')[1].rstrip('0123456789')]} "
            f"les {o.key.split('.')[0]}"
        )
    )
    description = sometimes(fr("sentence", nb_words=8), 0.7)


class OrganizationFactory(TimestampedFactory):
    class Meta:
        model = models.Organization

    type = pick(models.Organization.Type.values)
    name = factory.LazyAttribute(lambda o: organization_name(o.type))
    slug = factory.LazyAttributeSequence(lambda o, n: f"{slugify(o.name)[:180]}-{n}")
    email = sometimes(factory.LazyAttribute(lambda o: f"contact@{o.slug}.fr"), 0.8)
    phone = sometimes(fr("phone_number"), 0.7)
    address = sometimes(fr("address"), 0.8)
    country = sometimes(pick(COUNTRIES), 0.9)
    is_active = factory.LazyFunction(lambda: chance(0.9))
    owner = None


class UserFactory(TimestampedFactory):
    class Meta:
        model = models.User
        skip_postgeneration_save = True

    first_name = fr("first_name")
    last_name = fr("last_name")
    email = factory.LazyAttributeSequence(
        lambda o, n: (
            f"{ascii_name(o.first_name)}.{ascii_name(o.last_name)}{n}@"
            f"{randgen.choice(['gmail.com', 'orange.fr', 'free.fr', 'univ-exemple.fr'])}"
        )
    )
    password_hash = factory.LazyFunction(password_hash)
    phone = sometimes(fr("phone_number"), 0.6)
    role = pick([models.Role.USER] * 6 + [models.Role.AGENT] * 2 + [models.Role.ORG_ADMIN])
    is_active = factory.LazyFunction(lambda: chance(0.95))
    email_verified_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=3)), 0.8)
    last_login_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=60)), 0.7)
    organization = sometimes(factory.SubFactory(OrganizationFactory), 0.7)

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        if create and extracted:
            self.permissions.set(extracted)


class DepartmentFactory(TimestampedFactory):
    class Meta:
        model = models.Department

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.LazyFunction(lambda: f"Département de {randgen.choice(DEPARTMENTS)}")
    code = factory.Sequence(lambda n: f"DEP{n:03d}")


class FiliereFactory(TimestampedFactory):
    class Meta:
        model = models.Filiere

    department = factory.SubFactory(DepartmentFactory)
    name = pick(FILIERES)
    code = factory.Sequence(lambda n: f"FIL{n:03d}")


class OrganizationInviteFactory(TimestampedFactory):
    class Meta:
        model = models.OrganizationInvite

    organization = factory.SubFactory(OrganizationFactory)
    email = fr("email")
    token = factory.LazyFunction(lambda: hex_digest(32))
    role = pick([models.Role.USER, models.Role.AGENT, models.Role.ORG_ADMIN])
    status = pick(models.OrganizationInvite.Status.values)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(days=7))
    invited_by = sometimes(factory.SubFactory(UserFactory), 0.7)


class DemandePartageFactory(TimestampedFactory):
    class Meta:
        model = models.DemandePartage

    # The application's codes; a suffix keeps the factory's codes unique.
    code = factory.LazyAttributeSequence(lambda o, n: f"DP{o.created_at:%Y%m%d%H%M}{n:02d}")
    user = factory.SubFactory(UserFactory)
    target_org = factory.SubFactory(OrganizationFactory)
    assigned_org = sometimes(factory.SubFactory(OrganizationFactory), 0.4)
    filiere = sometimes(factory.SubFactory(FiliereFactory), 0.6)
    status = pick(models.DemandePartage.Status.values)
    annee = sometimes(
        factory.LazyFunction(lambda: f"{(y := randgen.randint(2015, 2024))}-{y + 1}"), 0.9
    )
    niveau = sometimes(pick(NIVEAUX), 0.8)
    motif = sometimes(
        factory.LazyFunction(
            lambda: f"{fake.sentence(nb_words=10)} {randgen.choice(EMOJI_SIGNOFFS)}"
        ),
        0.8,
    )
    metadata = sometimes(factory.LazyFunction(demande_metadata), 0.7)
    deleted_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=120)), 0.05)


class DocumentPartageFactory(TimestampedFactory):
    class Meta:
        model = models.DocumentPartage

    demande_partage = factory.SubFactory(DemandePartageFactory)
    owner_org = factory.SelfAttribute("demande_partage.target_org")
    type = pick(DOCUMENT_TYPES)
    mention = sometimes(pick(MENTIONS), 0.6)
    date_obtention = sometimes(
        factory.LazyFunction(lambda: date(2010, 7, 1) + timedelta(days=randgen.randrange(5000))),
        0.8,
    )
    est_traduit = factory.LazyFunction(lambda: chance(0.2))
    a_document = factory.LazyFunction(lambda: chance(0.8))
    code_adn = sometimes(factory.LazyFunction(lambda: hex_digest(16).upper()), 0.8)
    file_path = factory.LazyAttribute(
        lambda o: f"documents/{o.owner_org.slug}/{o.id}.pdf" if o.a_document else None
    )
    mime_type = factory.LazyAttribute(lambda o: "application/pdf" if o.file_path else None)
    file_size = factory.LazyAttribute(
        lambda o: randgen.randrange(20_000, 8_000_000) if o.file_path else None
    )
    blockchain_hash = sometimes(factory.LazyFunction(lambda: hex_digest(32)), 0.6)
    encrypted_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=2)), 0.5)


class BlockchainBlockFactory(CuidFactory):
    class Meta:
        model = models.BlockchainBlock

    index = factory.Sequence(lambda n: n)
    document_partage = sometimes(factory.SubFactory(DocumentPartageFactory), 0.5)
    previous_block = None
    previous_hash = GENESIS_HASH
    nonce = factory.LazyFunction(lambda: randgen.getrandbits(48))
    timestamp = factory.SelfAttribute("created_at")
    data = factory.LazyAttribute(
        lambda o: {
            "événement": randgen.choice(["ancrage", "vérification", "révocation"]),
            "document": {"type": randgen.choice(DOCUMENT_TYPES), "empreinte": hex_digest(16)},
            "signataires": [fake.name() for _ in range(randgen.randint(1, 2))],
        }
    )
    hash = factory.LazyAttribute(
        lambda o: block_hash(o.index, o.previous_hash, o.timestamp, o.data, o.nonce)
    )


class AbonnementFactory(TimestampedFactory):
    class Meta:
        model = models.Abonnement

    organization = factory.SubFactory(OrganizationFactory)
    plan = pick(models.Abonnement.Plan.values)
    status = pick(models.Abonnement.Status.values)
    start_date = factory.LazyAttribute(lambda o: o.created_at.date())
    end_date = sometimes(factory.LazyAttribute(lambda o: o.start_date + timedelta(days=365)), 0.7)
    price = factory.LazyAttribute(lambda o: Decimal(PLAN_PRICES[o.plan]) + money(0, 1))
    currency = pick(["XOF", "XOF", "EUR"])
    auto_renew = factory.LazyFunction(lambda: chance(0.5))


class TransactionFactory(TimestampedFactory):
    class Meta:
        model = models.Transaction

    demande_partage = factory.SubFactory(DemandePartageFactory)
    user = sometimes(factory.SelfAttribute("demande_partage.user"), 0.9)
    montant = factory.LazyFunction(lambda: money(500, 150_000))
    type_paiement = pick(models.Transaction.TypePaiement.values)
    type_transaction = sometimes(
        pick(["FRAIS_DOSSIER", "LEGALISATION", "TRADUCTION", "ENVOI"]), 0.8
    )
    statut = pick(models.Transaction.Statut.values)
    reference = factory.Sequence(lambda n: f"TRX-{n:08d}-{hex_digest(4).upper()}")
    deleted_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=30)), 0.03)


class PaymentFactory(TimestampedFactory):
    class Meta:
        model = models.Payment

    transaction = sometimes(factory.SubFactory(TransactionFactory), 0.7)
    demande_partage = factory.LazyAttribute(
        lambda o: o.transaction.demande_partage if o.transaction else None
    )
    abonnement = sometimes(factory.SubFactory(AbonnementFactory), 0.3)
    provider = pick(PROVIDERS)
    provider_ref = factory.Sequence(lambda n: f"{hex_digest(6).upper()}{n:08d}")
    status = pick(PAYMENT_STATUSES)
    amount = factory.LazyFunction(lambda: money(500, 150_000))
    currency = pick(["XOF", "XOF", "EUR"])
    metadata = sometimes(factory.LazyFunction(payment_metadata), 0.7)
    paid_at = sometimes(factory.LazyAttribute(lambda o: later(o.created_at, days=1)), 0.7)


class ContactMessageFactory(TimestampedFactory):
    class Meta:
        model = models.ContactMessage

    name = fr("name")
    email = fr("email")
    subject = sometimes(fr("sentence", nb_words=5), 0.8)
    message = factory.LazyFunction(
        lambda: f"Bonjour,\n{fake.paragraph(nb_sentences=3)}\n{randgen.choice(EMOJI_SIGNOFFS)}"
    )
    is_read = factory.LazyFunction(lambda: chance(0.5))


class ConfigurationFactory(TimestampedFactory):
    class Meta:
        model = models.Configuration

    key = factory.Sequence(lambda n: f"parametre.{n}")
    value = factory.LazyFunction(
        lambda: {
            "activé": chance(0.7),
            "seuil": randgen.randint(1, 100),
            "taux": randgen.choice([0.5, 1.25, 2.75]),
            "libellés": {"fr": fake.sentence(nb_words=3), "en": "Setting"},
            "canaux": ["e-mail", "SMS"],
        }
    )
    description = sometimes(fr("sentence", nb_words=8), 0.8)


class SiteSettingsFactory(TimestampedFactory):
    class Meta:
        model = models.SiteSettings
        django_get_or_create = ("id",)

    id = "default"
    site_name = "Partage de documents — Plateforme"
    contact_email = "contact@partage-documents.fr"
    logo_url = "/static/logo.svg"
    maintenance_mode = False
    extra = factory.LazyFunction(
        lambda: {
            "thème": {"couleur": "#1d4ed8", "mode": "clair"},
            "langues": ["fr", "en"],
            "bannière": "Bienvenue 👋",
        }
    )


class AuditLogFactory(DjangoModelFactory):
    class Meta:
        model = models.AuditLog

    user = sometimes(factory.SubFactory(UserFactory), 0.8)
    action = pick(AUDIT_ACTIONS)
    entity = pick(["DemandePartage", "DocumentPartage", "Transaction", "User", "Organization"])
    entity_id = sometimes(factory.LazyFunction(random_cuid), 0.9)
    details = sometimes(factory.LazyAttribute(lambda o: audit_details(o.action)), 0.7)
    ip_address = sometimes(fr("ipv4"), 0.9)
    user_agent = sometimes(pick(USER_AGENTS), 0.8)
    created_at = factory.LazyFunction(random_moment)


ALL_FACTORIES = [
    PermissionFactory,
    OrganizationFactory,
    UserFactory,
    DepartmentFactory,
    FiliereFactory,
    OrganizationInviteFactory,
    DemandePartageFactory,
    DocumentPartageFactory,
    BlockchainBlockFactory,
    AbonnementFactory,
    TransactionFactory,
    PaymentFactory,
    ContactMessageFactory,
    ConfigurationFactory,
    SiteSettingsFactory,
    AuditLogFactory,
]
