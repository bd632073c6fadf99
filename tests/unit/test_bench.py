"""The benchmark's report (bench/report.py) and profile summary (bench/profile_summary.py):
the targets of issue 14 read from a run's results, and what a skipped case shows."""

import sys

import pytest

from tests.subprocesses import ROOT

sys.path.insert(0, str(ROOT / "bench"))
report = pytest.importorskip("report")  # bench/report.py, beside bench/run.py
profile_summary = pytest.importorskip("profile_summary")


def tool(wall, rss_mb=60, **extra):
    return {"wall": wall, "rss_kb": rss_mb * 1024, "runs": 3, "busy": 0, "load": 0.0, **extra}


def scale(**tools):
    return {
        "scale": 5,
        "rows": 1000,
        "counts": {"User": 600, "AuditLog": 400},
        "tools": tools,
        "not_run": {"loaddata": "--skip-slow", "loaddata_again": "--skip-slow"},
    }


def measured(scale_results):
    return {what or "": (value, ok) for what, _, value, ok in report.targets(scale_results)}


def changed_case(written):
    return tool(
        1.5,
        changed_rows=60,
        changed_per_table={"User": 60},
        changed_columns={"User": "firstName"},
        row_versions_written=written,
    )


def test_targets_compare_with_pg_restore_and_count_the_row_versions_of_the_changed_rows():
    results = scale(
        pg_restore=tool(1.0),
        loaddomain=tool(1.9),
        loaddomain_changed=changed_case([60, 60, 60]),
    )
    rows = report.targets(results)
    assert ("import into an empty database", "≤ 2× `pg_restore --data-only`", "1.9×", True) in rows
    assert rows[-3][2:] == ("60, 60, 60 written in 3 runs; 60 rows changed", True)


def test_a_changed_row_written_twice_or_an_unchanged_one_written_misses_the_target():
    results = scale(pg_restore=tool(1.0), loaddomain_changed=changed_case([60, 120, 60]))
    rows = report.targets(results)
    assert rows[-3][3] is False


def test_cases_not_run_say_so_and_are_no_target():
    results = scale(pg_restore=tool(1.0), loaddomain=tool(3.0))
    rows = report.targets(results)
    assert ("", "row versions written = rows changed", "not run", None) in rows
    table = "\n".join(report.results_table(results))
    assert "| `loaddata` (foreign keys made deferrable †) | not run (--skip-slow) |" in table
    assert "| import (empty) | `loaddomain` | 3.00 s (n=3) | 333 | 60 MB | not run | 3.0× |" in (
        table
    )


def test_memory_target_is_150_mb_for_every_dumpdomain_and_loaddomain():
    results = scale(dumpdomain=tool(1.0, rss_mb=149), loaddomain=tool(1.0, rss_mb=151))
    assert report.targets(results)[-1][2:] == (
        "at most 151 MB (import (empty): `loaddomain`)",
        False,
    )


def test_the_loaddomain_labels_name_no_engine():
    """loaddomain has one writer: no case of the benchmark names an engine."""
    table = "\n".join(report.results_table(scale(loaddomain=tool(1.0), loaddomain_dry=tool(1.0))))
    assert "`loaddomain --dry-run`" in table
    assert "--engine" not in table and "loaddomain_rows" not in report.SHORT


def test_profile_summary_counts_own_and_inclusive_samples_per_function():
    raw = (
        "main (manage.py:10);load (/x/site-packages/datatransfer/importer.py:5);"
        "decode (/x/site-packages/datatransfer/codec.py:7) 30\n"
        "main (manage.py:10);load (/x/site-packages/datatransfer/importer.py:6) 10\n"
    )
    text = profile_summary.summarize(raw, "loaddomain")
    assert "40 samples" in text
    assert "| 75.0% | 30 | `decode (datatransfer/codec.py)` |" in text
    assert "| 100.0% | 40 | `load (datatransfer/importer.py)` |" not in text  # in every sample
    assert "| 75.0% | 30 | `decode (datatransfer/codec.py)` |" in text.split("Samples in all")[1]
