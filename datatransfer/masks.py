"""Masks of an anonymized export: one small named strategy per kind of personal value,
each a function of (the key's HMAC, the value) only, so the same value gets the same mask
in every table and on every run under the same key (DATATRANSFER_ANONYMIZE_KEY).

A model names the mask of each personal field in its transfer declaration
(`Transfer(masks={"email": "email"}, not_personal=("name",))`); a new mask is one
function here, registered by `@mask("name")`. Masks take and return the file's values
(strings, JSON values, None): None and "" stay as they are.
"""

import contextlib
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import models

from datatransfer.exceptions import Code, DataTransferError
from datatransfer.manifest import canonical_json

# A reserved top-level domain (RFC 2606): no mail sent to these addresses can reach anyone.
EMAIL_DOMAIN = "example.invalid"
# The password of every masked user, and its hash: bcrypt with cost 10 and a fixed salt,
# the spelling of the platform's own hashes (`$2b$10$`, what its Node.js app checks).
DEV_PASSWORD = "staging-password"
DEV_PASSWORD_HASH = "$2b$10$DataTransferMaskedDevOcPKIXA0IpTXsj0fjufZJJEWEHsA6QHC"

# Plausible names, none of them in the demo's French lists (Faker's fr_FR), so that a
# search of a masked demo export for the source's names finds none by chance.
FIRST_NAMES = (
    "Aino", "Eero", "Sigrid", "Torvald", "Ilse", "Jorunn", "Oskari", "Liisa", "Halvard",
    "Ingrid", "Sune", "Maren", "Tapio", "Solveig", "Arvid", "Kirsti", "Leif", "Ragnhild",
    "Veikko", "Tuulikki", "Birgit", "Henrikki", "Signe", "Jarmo", "Marjatta", "Eskil",
    "Annikki", "Torsten", "Helmi", "Ulf", "Asta", "Kalevi", "Dagny", "Pekka", "Ylva",
    "Ossian", "Siiri", "Bjarne", "Eija", "Gunnar", "Kaisu", "Ragnar", "Tove", "Ilmari",
    "Vigdis", "Einar", "Saini", "Steinar", "Lempi", "Orvar",
)  # fmt: skip
LAST_NAMES = (
    "Lindqvist", "Virtanen", "Halvorsen", "Korhonen", "Sundberg", "Makkonen", "Ekdahl",
    "Nieminen", "Bergstrand", "Heikkinen", "Lundgren", "Jokinen", "Sandvik", "Laaksonen",
    "Holmqvist", "Rantanen", "Engstrom", "Salminen", "Hedlund", "Koskinen", "Nordahl",
    "Lehtinen", "Wikstrom", "Karjalainen", "Dahlberg", "Mattila", "Fagerlund", "Hamalainen",
    "Ostberg", "Seppala", "Lindahl", "Kettunen", "Aasheim", "Vainio", "Brekke", "Tuominen",
    "Solberg", "Hakala", "Grondahl", "Peltonen", "Kvist", "Leinonen", "Rydberg", "Ahonen",
    "Mykland", "Savolainen", "Tveit", "Miettinen", "Frisk", "Huttunen",
)  # fmt: skip
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation "
    "ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit "
    "voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non "
    "proident sunt culpa qui officia deserunt mollit anim id est laborum"
).split()

# Names of text fields (split on `_`) and types that suggest personal data: each such field
# of a domain model must have a mask or be declared not personal (tests/unit/datatransfer).
PERSONAL_WORDS = frozenset(
    ("email", "mail", "phone", "telephone", "mobile", "name", "address", "token", "hash", "ip",
     "password", "secret")
)  # fmt: skip
PERSONAL_TYPES = (models.EmailField, models.GenericIPAddressField, models.JSONField)

Mask = Callable[["Keyed", object], object]
MASKS: dict[str, Mask] = {}


def mask(name: str):
    """Register the decorated function as the mask `name`."""

    def register(function: Mask) -> Mask:
        MASKS[name] = function
        return function

    return register


class Keyed:
    """The key's HMAC-SHA256, which every mask derives from: `digest(kind, value)`
    depends only on the key, the kind of value and the value (never its table)."""

    def __init__(self, key: str):
        self._key = key.encode()

    def digest(self, kind: str, value: str, counter: int = 0) -> bytes:
        message = f"{kind}\x00{counter}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def numbers(self, kind: str, value: str) -> Iterator[int]:
        """An endless deterministic stream of bytes (0-255) for `value`."""
        counter = 0
        while True:
            yield from self.digest(kind, value, counter)
            counter += 1

    def pick(self, kind: str, value: str, choices):
        return choices[int.from_bytes(self.digest(kind, value)[:8], "big") % len(choices)]

    @property
    def key_id(self) -> str:
        """A short HMAC of a constant: names the key in a file's metadata, never shows it."""
        return self.digest("key-id", "datatransfer")[:6].hex()


def _masks_strings(function: Mask) -> Mask:
    """None, "" and non-strings pass through `function` unchanged."""

    def masked(keyed: Keyed, value):
        if not isinstance(value, str) or value == "":
            return value
        return function(keyed, value)

    masked.__doc__ = function.__doc__
    return masked


@mask("email")
@_masks_strings
def email(keyed: Keyed, value: str) -> str:
    """`u<16 hex digits>@example.invalid`: unique for distinct addresses (64 bits), the
    domain compared without case."""
    local, at, domain = value.strip().rpartition("@")
    normalized = f"{local}{at}{domain.lower()}" if at else value.strip()
    return f"u{keyed.digest('email', normalized)[:8].hex()}@{EMAIL_DOMAIN}"


@mask("first_name")
@_masks_strings
def first_name(keyed: Keyed, value: str) -> str:
    return keyed.pick("first_name", value.strip(), FIRST_NAMES)


@mask("last_name")
@_masks_strings
def last_name(keyed: Keyed, value: str) -> str:
    return keyed.pick("last_name", value.strip(), LAST_NAMES)


@mask("full_name")
@_masks_strings
def full_name(keyed: Keyed, value: str) -> str:
    """The first word as a first name, the rest as a last name: "Jean Dupont" gets the
    masks a user named Jean Dupont gets."""
    first, _, last = value.strip().partition(" ")
    if not last:
        return last_name(keyed, first)
    return f"{first_name(keyed, first)} {last_name(keyed, last.strip())}"


@mask("phone")
@_masks_strings
def phone(keyed: Keyed, value: str) -> str:
    """Every digit replaced, every other character kept: `+33 (0)1 23 45 67 89` stays
    shaped so."""
    digits = keyed.numbers("phone", "".join(c for c in value if c.isdigit()))
    return "".join(str(next(digits) % 10) if c.isdigit() else c for c in value)


@mask("text")
@_masks_strings
def text(keyed: Keyed, value: str) -> str:
    """Placeholder words of exactly the value's length, its line breaks kept."""
    return "\n".join(_words(keyed, value, line, n) for n, line in enumerate(value.split("\n")))


def _words(keyed: Keyed, value: str, line: str, number: int) -> str:
    if not line:
        return ""
    numbers = keyed.numbers("text", f"{number}\x00{value}")
    words = []
    while sum(len(w) + 1 for w in words) <= len(line):
        words.append(WORDS[next(numbers) % len(WORDS)])
    return " ".join(words).capitalize()[: len(line)]


@mask("password")
@_masks_strings
def password(keyed: Keyed, value: str) -> str:
    """The documented development hash (of DEV_PASSWORD), for every user."""
    return DEV_PASSWORD_HASH


@mask("token")
@_masks_strings
def token(keyed: Keyed, value: str) -> str:
    """A new token of the same length, in hex: unique for distinct tokens."""
    numbers = keyed.numbers("token", value)
    return "".join(f"{next(numbers):02x}" for _ in range((len(value) + 1) // 2))[: len(value)]


@mask("ip")
@_masks_strings
def ip(keyed: Keyed, value: str) -> str:
    """An IPv4 address in 10.0.0.0/8, an IPv6 one in fd00::/8; other text as text."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return text(keyed, value)
    raw = keyed.digest("ip", str(address))
    if address.version == 4:
        return str(ipaddress.IPv4Address(b"\x0a" + raw[:3]))
    return str(ipaddress.IPv6Address(b"\xfd" + raw[:15]))


EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_SHAPE = re.compile(r"\+?[\d\s().-]{6,}")


@mask("json")
def json_value(keyed: Keyed, value):
    """The same structure, keys, numbers and booleans; each string masked by its shape: an
    address as an email, digits and separators as a phone, anything else as text."""
    if isinstance(value, dict):
        return {key: json_value(keyed, item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_value(keyed, item) for item in value]
    if not isinstance(value, str) or value == "":
        return value
    if EMAIL_SHAPE.fullmatch(value.strip()):
        return email(keyed, value)
    if PHONE_SHAPE.fullmatch(value) and sum(c.isdigit() for c in value) >= 6:
        return phone(keyed, value)
    return text(keyed, value)


def _emptied(keyed: Keyed, value) -> str:
    """A secret no mask covers: written empty, as in an export without secrets."""
    return ""


def anonymize_key() -> str:
    """The configured key (settings.DATATRANSFER_ANONYMIZE_KEY), or '' when there is none."""
    return getattr(settings, "DATATRANSFER_ANONYMIZE_KEY", "") or ""


def require_key(key: str | None) -> str:
    """`key`, or the settings' when it is None; DataTransferError when there is none."""
    key = anonymize_key() if key is None else key
    if not key:
        raise DataTransferError(
            "An anonymized export needs DATATRANSFER_ANONYMIZE_KEY, which is not set: "
            "nothing was written.",
            code=Code.ANONYMIZE_KEY_MISSING,
        )
    return key


def looks_personal(field: models.Field) -> bool:
    """Whether a field's name or type suggests personal data. Only text and JSON can hold
    it: dates, numbers, booleans and enums (a choice among labels) are kept as they are."""
    if isinstance(field, PERSONAL_TYPES):
        return True
    if not isinstance(field, models.CharField | models.TextField) or field.choices:
        return False
    words = set(field.name.lower().split("_")) | set(field.column.lower().split("_"))
    return bool(words & PERSONAL_WORDS)


def masks_declaration(tables) -> dict:
    """{table key: {field key: mask name}} of the tables that mask a field."""
    return {
        table.key: {spec.key: name for spec, name in table.masks} for table in tables if table.masks
    }


class Anonymizer:
    """Masks the rows of an export under one key."""

    def __init__(self, key: str):
        self.keyed = Keyed(key)

    def rows(self, table, rows):
        """`rows` ((file's dict, whether a reference) pairs) with their masked fields masked
        and the secrets that no mask covers emptied."""
        masks = [(spec.key, MASKS[name]) for spec, name in table.masks]
        masked = {key for key, _ in masks}
        masks += [(key, _emptied) for key in sorted(table.secret_keys - masked)]
        if not masks:
            yield from rows
            return
        keyed = self.keyed
        # Closed with this generator: the server's COPY must not stay suspended (exporter).
        with contextlib.closing(rows):
            for row, reference in rows:
                row = dict(row)
                for key, function in masks:
                    if key in row:
                        row[key] = function(keyed, row[key])
                yield row, reference

    def metadata(self, tables) -> dict:
        """What the file's metadata says of the masks: which, a digest of them, the key's id."""
        declared = masks_declaration(tables)
        return {
            "masks": declared,
            "declaration": hashlib.sha256(canonical_json(declared)).hexdigest()[:16],
            "key": self.keyed.key_id,
        }
