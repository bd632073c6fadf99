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


# -- the floors of issue 25 (bench/floors.py, bench/floor_data.py) and their rendering

floors = pytest.importorskip("floors")  # bench/floors.py
floor_data = pytest.importorskip("floor_data")  # bench/floor_data.py


class RecordingCursor:
    def __init__(self):
        self.statements = []

    def execute(self, sql, params=None):
        self.statements.append(" ".join(sql.split()))


def domain_plan():
    from datatransfer.registry import domain_tables

    return [e for n, t in enumerate(domain_tables(), 1) for e in floor_data.table_plan(t, n)]


def test_the_floor_plan_comes_from_the_models_in_dependency_order_with_the_cycle_set_later():
    plan = domain_plan()
    tables = [entry["table"] for entry in plan]
    assert tables.index("Organization") < tables.index("User") < tables.index("_PermissionToUser")
    assert tables.index("Permission") < tables.index("_PermissionToUser")
    later = {entry["table"]: entry["later"] for entry in plan if entry.get("later")}
    # the cycle waits for every table; a link to the same table is checked in its own INSERT
    assert later == {"Organization": ["ownerId"]}
    [link] = [entry for entry in plan if entry.get("link")]
    assert (link["related"], link["related_key"]) == ("Permission", "key")
    assert len({entry["csv"] for entry in plan}) == len(plan) == 17


def test_the_checked_bulk_insert_inserts_in_plan_order_then_sets_the_cycle():
    plan = domain_plan()
    cursor = RecordingCursor()
    floors.insert(cursor, plan)
    floors.set_later_links(cursor, plan)
    inserted = [s.split()[2] for s in cursor.statements if s.startswith("INSERT")]
    assert inserted == [f'"{entry["table"]}"' for entry in plan]
    organization = next(s for s in cursor.statements if s.startswith('INSERT INTO "Organization"'))
    assert "NULL" in organization.split("SELECT")[1]  # ownerId: the users are not in yet
    assert cursor.statements[-1].startswith(
        'UPDATE "Organization" AS t SET "ownerId" = s."ownerId"'
    )
    link = next(s for s in cursor.statements if s.startswith('INSERT INTO "_PermissionToUser"'))
    assert 'LEFT JOIN "Permission" AS r ON r."key"::text = s.key' in link


def test_the_server_comparison_is_one_left_join_per_table_counting_new_and_different_rows():
    cursor = RecordingCursor()
    cursor.fetchone = lambda: (0, 0)
    counts = floors.compare(cursor, domain_plan())
    assert len(cursor.statements) == len(counts) == 17
    assert all("LEFT JOIN" in s for s in cursor.statements)
    assert "IS DISTINCT FROM" in cursor.statements[0]


def test_csv_values_spell_null_apart_from_the_empty_string():
    import datetime as dt

    from django.db import models

    text, data = models.TextField(), models.JSONField()
    assert floor_data.spelled(text, None) == ""
    assert floor_data.spelled(text, "") == '""'
    assert floor_data.spelled(text, 'a "b"') == '"a ""b"""'
    assert floor_data.spelled(data, "x") == '"""x"""'  # a JSON string, not a bare word
    assert floor_data.spelled(models.BooleanField(), False) == "f"
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=dt.UTC)
    assert floor_data.spelled(text, moment) == '"2026-01-02 03:04:05.123000+00:00"'


def floored_scale():
    phases = {"head": 0.1, "check": 0.5, "parse": 0.4, "stage": 0.3, "commit": 0.2}
    measured = scale(
        loaddomain=tool(3.0, job_seconds=2.0, phases=phases),
        loaddomain_again=tool(4.0, job_seconds=3.0, phases=phases),
    )
    return measured | {
        "floors": {
            "rows": 1000,
            "tables": 17,
            "later_links": ["Organization.ownerId"],
            "bulk_insert": {"wall": 1.5, "runs": 3, "parts": {"stage": 0.5, "insert": 1.0}},
            "comparison": {"wall": 1.0, "runs": 3, "parts": {"stage": 0.5, "compare": 0.5}},
            "parse": {"wall": 0.2, "runs": 3, "bytes": 2**20, "parts": {"parse": 0.2}},
            "startup_help": tool(0.9),
            "startup_check": tool(1.1),
        }
    }


def test_floor_ratios_and_targets_and_what_was_not_run():
    table = "\n".join(report.floor_ratio_lines(floored_scale()))
    row = "| import into an empty database | 3.00 s | checked bulk insert | 1.50 s | 2.0× |"
    assert row + " ≤ 1.5× ❌ |" in table
    assert "| re-import of the unchanged file | 4.00 s | server comparison | 1.00 s | 4.0× |" in (
        table
    )
    assert "| dry run of the unchanged file | not run | server comparison | | | |" in table


def test_the_phase_table_traces_the_wall_time_start_up_included():
    table = report.phase_table(floored_scale())
    assert table[0] == "| phase | import into an empty database | re-import of the unchanged file |"
    assert "| start-up, rendering, exit (wall time − the job's) | 1.00 s | 1.00 s |" in table
    assert "| check pass (a read of its own: --match natural only) | 0.50 s | 0.50 s |" in table
    assert not any(line.startswith("| walk") for line in table)  # not timed: no row
    assert table[-1] == "| **wall time** | **3.00 s** | **4.00 s** |"


def test_the_floors_section_says_not_measured_yet_without_figures_else_shows_the_latest():
    unmeasured = "\n".join(report.floors_section({"main": {"date": "x", "scales": [scale()]}}))
    assert "**Not measured yet**" in unmeasured and 'make bench-floors SCALE="100 400"' in (
        unmeasured
    )
    run = {"date": "2026-12-07", "machine": {"commit": "abc1234"}, "scales": [floored_scale()]}
    shown = "\n".join(report.floors_section({"main": {"date": "x", "scales": []}, "floors": run}))
    assert "Not measured yet" not in shown
    assert "### Scale 5: 1,000 rows (2026-12-07, commit abc1234)" in shown
    assert "links set after every table: Organization.ownerId" in shown
