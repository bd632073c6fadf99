"""The commands' text: what an export wrote, as tables and lines for a terminal."""

import os

from django.db import DEFAULT_DB_ALIAS, connections

from datatransfer.media import MANIFEST_MEMBER
from datatransfer.reports import ExportReport, human_size, render_table


def render_export(report: ExportReport) -> str:
    """The rows per table (and as references, for a subset), then the file written."""
    header = ["table", "rows"]
    rows = [[key, f"{count:,}"] for key, count in report.tables.items()]
    footer = ["total", f"{report.total:,}"]
    if report.references:  # a subset: the rows there only as references, without secrets
        header.append("as references")
        for row in rows:
            row.append(f"{report.references.get(row[0], 0):,}")
        footer.append(f"{sum(report.references.values()):,}")
    table = render_table(header, rows, footer)
    left_out = (
        f"\nLeft out (written as empty lists): {', '.join(report.excluded)}."
        if report.excluded
        else ""
    )
    return (
        f"{table}\n\nWrote {report.file} ({human_size(report.file_size)}) from database "
        f"'{report.database}' in {report.duration:.1f} s.{left_out}"
    )


def render_media_export(manifest: dict, *, limit: int | None = 20) -> str:
    """How many files the archive holds, then the missing ones (`limit` of them) and why."""
    files, missing = manifest["files"], manifest["missing"]
    total = sum(entry["size"] for entry in files)
    size = human_size(total)
    lines = [f"Uploaded files: {len(files):,} in the archive ({size}), {len(missing):,} missing."]
    shown = missing if limit is None else missing[:limit]
    lines += [f"missing: {entry['path']} ({entry['reason']})" for entry in shown]
    if len(missing) > len(shown):
        more = len(missing) - len(shown)
        lines.append(f"... and {more} more (all of them with -v 2, and in {MANIFEST_MEMBER}).")
    return "\n".join(lines)


def next_step(output: str, source: str) -> str:
    """How to import the file: its path from where the user stands, and the other
    database when exactly one is configured (else a placeholder)."""
    relative = os.path.relpath(output)
    path = output if relative.startswith("..") else relative
    others = [alias for alias in connections if alias not in (DEFAULT_DB_ALIAS, source)]
    target = others[0] if len(others) == 1 else "TARGET"
    return f"Import it with: python manage.py loaddomain {path} --database {target} --dry-run"
