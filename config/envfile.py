"""The env file (`.env`, or the file ENV_FILE names), read as django-environ reads it, with
the references that dotenv expands: `${VAR}`, `${VAR:-default}` and `$VAR`.

The platform's own `.env` is written for Node's dotenv, where
`DATABASE_URL="postgresql://${DB_USER}@${DB_HOST}:5432/app"` is common: without the
expansion the host would be the text `${DB_HOST}`. A reference takes its value from the
environment first (which wins over the file, as for the variables themselves), then from
an earlier line of the file, else the default (`:-`, also used for an empty value), else
nothing. Single-quoted values are taken literally; `\\$` is a literal `$`.
"""

import re
from pathlib import Path

LINE = re.compile(r"\A(?:export )?([A-Za-z_0-9]+)=(.*)\Z")
REFERENCE = re.compile(
    r"\\(?P<escaped>\$)"
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# In double quotes, as django-environ: `\n`, `\r`, `\t` stay escaped, `\x` is `x`.
DOUBLE_QUOTED_ESCAPE = re.compile(r"\\(.)")


def expand(value: str, known: dict) -> str:
    """`value` with its references replaced by their values in `known`."""

    def replace(match):
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        found = known.get(name, "")
        if not found and match["default"] is not None:
            return expand(match["default"], known)
        return found

    return REFERENCE.sub(replace, value)


def _unescape(match) -> str:
    char = match.group(1)
    return "\\" + char if char in "rnt" else char


def parse_value(raw: str, known: dict) -> str:
    """One line's value: literal in single quotes, expanded and unescaped in double
    quotes, expanded when bare."""
    if single := re.fullmatch(r"'(.*)'", raw):
        return single.group(1)
    if double := re.fullmatch(r'"(.*)"', raw):
        parts = re.split(r"(\\\$)", double.group(1))
        return "".join(
            "$" if part == "\\$" else expand(DOUBLE_QUOTED_ESCAPE.sub(_unescape, part), known)
            for part in parts
        )
    return expand(raw, known)


def read_env_file(path: Path, environ) -> dict:
    """The variables of the env file at `path`, references expanded against `environ`
    (which wins) and the file's earlier lines; a key set twice keeps its last value. Lines
    that are not `KEY=value` are skipped."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if match := LINE.match(line):
            key, raw = match.groups()
            values[key] = parse_value(raw, {**values, **environ})
    return values
