"""Where an import's time goes, as the --report file says it (phaseSeconds: seconds per
phase of the import, each phase's own time), on SQLite and on PostgreSQL. The normal
summary does not show them."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connections

pytestmark = pytest.mark.django_db

EVERY_IMPORT = {"other", "head", "verdict", "load", "parse", "links", "constraints", "commit"}


def load(path, report_path, *args):
    out = io.StringIO()
    call_command(
        "loaddomain", path, "--report", str(report_path), *args, stdout=out, interactive=False
    )
    return out.getvalue(), json.loads(report_path.read_text(encoding="utf-8"))


def test_the_report_says_where_the_time_went_phase_by_phase(node_file, tmp_path):
    out, report = load(node_file, tmp_path / "report.json")
    phases = report["phaseSeconds"]
    assert EVERY_IMPORT <= set(phases)
    assert all(isinstance(seconds, float | int) and seconds >= 0 for seconds in phases.values())
    if connections["platform"].vendor == "postgresql":
        # the writer's set-based path: the rows copied in, typed, classified, written
        assert {"stage", "type", "classify", "write", "outcomes"} <= set(phases)
    else:
        assert "walk" in phases and "stage" not in phases
    assert "phase" not in out.lower() and "parse" not in out


def test_a_dry_run_and_an_unchanged_file_have_their_phases_too(node_file, tmp_path):
    _, dry = load(node_file, tmp_path / "dry.json", "--dry-run")
    assert EVERY_IMPORT <= set(dry["phaseSeconds"])  # commit: the rollback, here
    load(node_file, tmp_path / "first.json")
    _, again = load(node_file, tmp_path / "again.json")
    assert set(again["totals"]) and again["totals"]["unchanged"] == sum(again["totals"].values())
    assert EVERY_IMPORT <= set(again["phaseSeconds"])
