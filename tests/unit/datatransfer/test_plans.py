"""Plans without a database: what a recorder keeps of outcomes, how two plans are compared,
and the one-line refusals of a file that is not a plan."""

import orjson
import pytest

from datatransfer.exceptions import PlanError
from datatransfer.plans import Plan, PlanRecorder, changed_message, differences, read_plan
from datatransfer.reports import Outcome


def plan(rows, fingerprint) -> Plan:
    return Plan(
        file_name="x.json",
        file_path="/x.json",
        file_sha256="0" * 64,
        file_size=1,
        database="platform",
        target="sqlite x",
        options={},
        counts={key: {} for key in rows},
        rows=rows,
        fingerprint=fingerprint,
    )


def test_a_changed_outcome_keeps_only_the_last_one():
    recorder = PlanRecorder()
    recorder.listen("users", Outcome.CREATED, "u1")
    recorder.listen("users", Outcome.CREATED, "u2")
    recorder.listen("users", Outcome.FAILED, "u1", was=Outcome.CREATED)
    recorder.listen("orgs", Outcome.UPDATED, 7)
    assert recorder.rows() == {
        "users": {"created": ["u2"], "failed": ["u1"]},
        "orgs": {"updated": ["7"]},
    }


def test_rows_differ_by_outcome_or_by_their_target_rows_digest():
    planned = plan(
        {"users": {"created": ["a", "b"]}, "orgs": {"updated": ["o"]}},
        {"users": {"a": None, "b": None}, "orgs": {"o": "d1"}},
    )
    same = differences(planned, planned.rows, planned.fingerprint)
    assert same == {}
    now = differences(
        planned,
        {"users": {"created": ["a"], "skipped": ["b"]}, "orgs": {"updated": ["o"]}},
        {"users": {"a": "appeared", "b": None}, "orgs": {"o": "d2"}},
    )
    assert now == {"users": 2, "orgs": 1}
    assert changed_message(now) == (
        "The target changed since the plan: users 2 rows, orgs 1 row differ; nothing was written."
    )


@pytest.mark.parametrize(
    "content, said",
    [
        (b"\x00\xff", "is not a plan"),
        (b"[]", "is not a plan"),
        (b'{"format": "datatransfer-plan"}', "is a plan of version None"),
        (b'{"format": "datatransfer-plan", "version": 1, "file": 3}', "is a broken plan"),
    ],
)
def test_what_is_not_a_plan_is_refused_in_one_line(tmp_path, content, said):
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(PlanError) as refused:
        read_plan(path)
    assert str(refused.value).startswith(f"{path} {said}")
    assert refused.value.exit_code == 2


def test_a_missing_plan_is_refused_in_one_line(tmp_path):
    with pytest.raises(PlanError, match=r"^Cannot read the plan .*: No such file"):
        read_plan(tmp_path / "none.json")


def test_a_plan_written_before_prune_was_planned_reads_as_not_pruning(tmp_path):
    options = {"match": "id", "exclude": [], "ignoreUnknown": False, "verify": True}
    options |= {"overwriteMedia": False, "strict": False}
    document = plan({"users": {}}, {}).as_dict() | {"options": options}
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(document))
    assert read_plan(path).options["prune"] is False
    document["options"]["prune"] = True
    path.write_bytes(orjson.dumps(document))
    assert read_plan(path).options["prune"] is True
