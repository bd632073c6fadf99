"""Signed exports: with a signing key (`DATATRANSFER_SIGNING_KEY`), `dumpdomain` signs
the file and `loaddomain` loads only files signed with that key.

How the signature is computed: HMAC-SHA256, keyed with the UTF-8 bytes of the key, over
the canonical JSON (`manifest.canonical_json`: keys sorted, no spaces, UTF-8) of the
file's `metadata` object without its `signature` member. The metadata holds the manifest
(each table's row count and the SHA-256 of its rows, and the schema), so the signature
vouches for the rows through the manifest, which the import checks against them. It is
written into the metadata as `"signature": {"algorithm": "HMAC-SHA256", "value": "<64
hex digits>"}`. An archive of `--with-media` signs its `media-manifest.json` the same way
(over the manifest without its signature), and that manifest names the export's size and
SHA-256, so the files and the export travel together.

Without a key, nothing is signed, and on loading a signature is not checked (the report
says so): the manifest alone protects against accidents, not against someone who edits
the rows and recomputes it.
"""

import hashlib
import hmac

from django.conf import settings

from datatransfer.exceptions import SignatureError
from datatransfer.manifest import canonical_json

SIGNATURE = "signature"
ALGORITHM = "HMAC-SHA256"


def signing_key() -> str:
    """The configured key (settings.DATATRANSFER_SIGNING_KEY), or '' when there is none."""
    return getattr(settings, "DATATRANSFER_SIGNING_KEY", "") or ""


def signature_of(document: dict, key: str) -> str:
    """The hex HMAC-SHA256 of `document` (the metadata, or an archive's media manifest),
    less its signature, under `key`."""
    unsigned = {name: value for name, value in document.items() if name != SIGNATURE}
    return hmac.new(key.encode("utf-8"), canonical_json(unsigned), hashlib.sha256).hexdigest()


def signed(document: dict, key: str) -> dict:
    """`document` with its signature under `key` added."""
    return {**document, SIGNATURE: {"algorithm": ALGORITHM, "value": signature_of(document, key)}}


def require_signature(name: str, document: dict, key: str) -> None:
    """Raise SignatureError unless `document` (named `name` in the message) carries a valid
    signature under `key`."""
    signature = document.get(SIGNATURE)
    if signature is None:
        raise SignatureError(
            f"{name} is not signed, and only signed files load here; nothing was written."
        )
    value = signature.get("value") if isinstance(signature, dict) else None
    if (
        not isinstance(signature, dict)
        or signature.get("algorithm") != ALGORITHM
        or not isinstance(value, str)
        or not hmac.compare_digest(
            value.encode("utf-8", "replace"), signature_of(document, key).encode()
        )
    ):
        raise SignatureError(
            f"{name}: its signature does not match (the file was changed after it was signed, "
            "or signed with another key); nothing was written."
        )


def check_signature(path, metadata: dict, key: str) -> list[str]:
    """With a `key`, raise SignatureError unless `metadata` carries a valid signature under
    it; without one, check nothing. Return the notes for the report."""
    if key:
        require_signature(str(path), metadata, key)
        return []
    if metadata.get(SIGNATURE) is not None:
        return ["The file is signed, but no signing key is set: its signature was not checked."]
    return []
