"""The manifest of an export: per table its row count and a SHA-256 of its rows in a
canonical spelling, and a fingerprint of the schema, so that an altered, cut or
foreign file is refused before anything is written.
"""

import hashlib
import json

import orjson

from datatransfer.exceptions import VerificationError, escaped, quoted


def canonical_json(value) -> bytes:
    """A JSON value as bytes that do not depend on how it was written: keys sorted,
    compact, UTF-8. Equal values give equal bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def canonical_row(row: dict) -> bytes:
    """One row, canonical (see canonical_json), on one line."""
    return canonical_json(row) + b"\n"


class TableDigest:
    """Counts the rows of one table and hashes their canonical bytes."""

    def __init__(self):
        self.rows = 0
        self._hash = hashlib.sha256()

    def add(self, row: dict) -> None:
        self.rows += 1
        try:  # canonical_row, without its calls: this runs for every row of an export
            line = orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            line = canonical_row(row)
        self._hash.update(line)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "sha256": self._hash.hexdigest()}


def schema_of(tables) -> dict:
    """{table key: {field key: type}} of the tables, as the manifest records them."""
    schema = {}
    for table in tables:
        fields = {spec.key: spec.field.get_internal_type() for spec in table.fields}
        fields.update({spec.key: "ManyToManyKeys" for spec in table.many_to_many})
        schema[table.key] = fields
    return schema


def schema_fingerprint(schema: dict) -> str:
    return hashlib.sha256(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_digests(path, manifest: dict, digests: dict) -> None:
    """Raise VerificationError naming every table whose rows do not match the manifest."""
    listed = manifest.get("tables")
    if not isinstance(listed, dict):
        raise VerificationError(f"{path}: its manifest is damaged (no table list).")
    problems = []
    for key in sorted(set(listed) | set(digests), key=lambda k: (k not in listed, k)):
        expected = listed.get(key)
        found = digests.get(key)
        if found is None:
            problems.append(f"{quoted(key)} is missing")
        elif not isinstance(expected, dict):
            problems.append(f"{quoted(key)} is not in the manifest")
        elif expected.get("rows") != found["rows"]:
            rows = escaped(expected.get("rows"))
            problems.append(
                f"{quoted(key)} has {found['rows']} rows where the manifest says {rows}"
            )
        elif expected.get("sha256") != found["sha256"]:
            problems.append(
                f"{quoted(key)} has rows that differ from the export (checksum mismatch)"
            )
    if problems:
        raise VerificationError(
            f"{path} does not match its manifest: table {'; table '.join(problems)}. "
            "The file was altered or cut; nothing was written."
        )
