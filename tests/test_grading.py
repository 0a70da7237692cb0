"""assign is deterministic and in sync; the real exercise grades to full marks / zero; validate and
the CLI behave. (Hostile submissions: test_grading_faults.py.)"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from course_lib.grading import __main__ as cli
from course_lib.grading import assign, nbio
from course_lib.grading.autograde import autograde
from course_lib.grading.execute import Limits
from course_lib.grading.validate import validate

REPO = Path(__file__).resolve().parents[1]
TINY = Path(__file__).parent / "grading_fixtures" / "source"


def test_committed_exercises_match_a_fresh_generation() -> None:
    assert assign.check(REPO / "solutions", REPO / "exercises") == []
    assert cli.main(["assign", "--check"]) == 0


def test_assign_is_deterministic_and_strips_solutions(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "exercises", tmp_path / "b" / "exercises"
    assign.assign(REPO / "solutions", a)
    assign.assign(REPO / "solutions", b)
    for path in sorted(a.glob("*.ipynb")):
        text = path.read_text()
        assert text == (b / path.name).read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        nb = nbio.read_notebook(path)
        for cell in nb["cells"]:
            if nbio.role(cell) == "solution":
                assert "raise NotImplementedError()" in nbio.source_text(cell)
            if nbio.role(cell) in ("test", "locked"):
                assert nbio.meta(cell)["locked"] is True
                assert cell["metadata"]["deletable"] is False and cell["metadata"]["editable"] is False
            if nbio.role(cell) == "solution":
                assert cell["metadata"]["deletable"] is False and "editable" not in cell["metadata"]
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        assert f"blob/main/exercises/{path.name})" in nbio.source_text(nb["cells"][0])  # badge opens it


def test_check_reports_drift_and_cli_fails(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "ex"
    assign.assign(TINY, dest)
    nb = json.loads((dest / "tiny.ipynb").read_text())
    nb["cells"][2]["source"] = ["def square(x):\n", "    return x * x"]  # someone "fixed" the exercise
    (dest / "tiny.ipynb").write_text(json.dumps(nb))
    (dest / "stray.ipynb").write_text("{}")
    assert cli.main(["assign", "--check", "--source", str(TINY), "--dest", str(dest)]) == 1
    out = capsys.readouterr().out
    assert "tiny.ipynb" in out and "stray.ipynb has no source" in out


def test_source_format_errors_are_clear(tmp_path: Path) -> None:
    nb = nbio.read_notebook(TINY / "tiny.ipynb")
    nb["cells"][3]["metadata"]["nbgrader"]["grade_id"] = "square"  # duplicate id
    (tmp_path / "bad.ipynb").write_text(json.dumps(nb))
    with pytest.raises(nbio.NotebookError, match="used twice"):
        assign.generate(tmp_path, tmp_path / "out")


def test_validate_runs_visible_tests_only(tmp_path: Path, capsys) -> None:
    ex = tmp_path / "ex"
    assign.assign(TINY, ex)
    nb = nbio.read_notebook(TINY / "tiny.ipynb")  # a finished student notebook ...
    for cell in nb["cells"]:
        if nbio.grade_id(cell) == "test_mean":
            cell["source"] = "pass"                 # ... whose visible test was emptied
        if nbio.grade_id(cell) == "mean":
            cell["source"] = "def mean(xs):\n    return 0"
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    graded = validate(tmp_path / "tiny.ipynb", ex / "tiny.ipynb", Limits(5, 20, 400))
    out = capsys.readouterr().out
    assert {t.name: t.status for t in graded.tests} == {"test_square": "passed", "test_mean": "failed"}
    assert "PASS test_square" in out and "FAIL test_mean" in out and "test_square_hidden" in out


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("real")
    for student, folder in (("solution", "solutions"), ("blank", "exercises")):
        (root / "subs" / student).mkdir(parents=True)
        for path in (REPO / folder).glob("*.ipynb"):
            shutil.copy(path, root / "subs" / student / path.name)
    results = autograde(root / "subs", root / "out", REPO / "solutions", Limits(120, 300, 6000),
                        profile="ci", jobs=2)
    return {(g.student_id, g.assignment): g for g in results}, root / "out"


def test_solutions_get_full_marks(real_batch) -> None:
    results, _ = real_batch
    for (student, assignment), g in results.items():
        if student == "solution":
            assert g.max_score > 0 and g.score == g.max_score, (assignment, g.problem, g.tests)


def test_blank_exercises_get_zero_with_every_test_reported(real_batch) -> None:
    results, out = real_batch
    for (student, assignment), g in results.items():
        if student != "blank":
            continue
        source = nbio.read_notebook(REPO / "solutions" / f"{assignment}.ipynb")
        test_ids = [nbio.grade_id(c) for c in source["cells"] if nbio.role(c) == "test"]
        assert [t.name for t in g.tests] == test_ids and g.score == 0
        feedback = (out / "feedback" / "blank" / f"{assignment}.md").read_text()
        assert all(f"`{t}" in feedback for t in test_ids)
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert {r["student_id"] for r in rows} == {"solution", "blank"}


def test_got_values_split_and_compare() -> None:
    from course_lib.grading import values
    code = ("x = [3, 4]\ngot = [square(v) for v in x]\nassert got[0] == 9\nfor v in x:\n    got.append(-v)\n"
            "    assert v\nexpected = [9, 16, -3, -4]\nassert got == expected\n")
    part, names = values.split_test(code)
    assert names == ["got"] and "assert" not in part and "expected" not in part and "got.append" in part
    assert values.split_test("assert square(3) == 9") is None          # plain asserts: kernel decides
    t = {"__array__": "float32", "shape": [2], "data": [1.0, 2.0]}
    assert values.differ(t, {"__array__": "float64", "shape": [2], "data": [1.0, 2.0 + 1e-7]}) is None
    assert values.differ(t, {"__array__": "int64", "shape": [2], "data": [1, 2]}) is not None
    assert values.differ(t, {"__array__": "float32", "shape": [1, 2], "data": [1.0, 2.0]}) is not None
    assert values.differ([1, "a", None, True], [1, "a", None, True]) is None
    assert values.differ([True], [1]) is not None and values.differ(2.0, 2) is None
    assert values.differ(10**17, 10**17 + 1) is not None and values.differ(1000, 1000.05) is not None  # ints: exact
    assert values.differ(4, 4.0) is None and values.differ(4, {"__float__": "nan"}) is not None
    big = {"__array__": "int64", "shape": [1], "data": [10**17]}
    assert values.differ(big, {**big, "data": [10**17 + 1]}) is not None
    assert values.differ({"__type__": "Anything"}, {"__type__": "Anything"}) is not None   # never equal
    assert values.verdict({"got": 4}, {"got": {"__type__": "Anything"}}, ["got"], 1e-4, 1e-5) is not None


def _plain(nb: dict) -> dict:
    """The fixture with got* renamed: plain-assert tests only (nbgrader's classic form)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if nbio.role(cell) == "test":
            cell["source"] = nbio.source_text(cell).replace("got", "res")
    return nb


def test_plain_assert_solution_grades_with_the_weaker_guarantee_stated(tmp_path: Path) -> None:
    source, subs = tmp_path / "source", tmp_path / "subs"
    source.mkdir()
    solution = _plain(nbio.read_notebook(TINY / "tiny.ipynb"))
    (source / "tiny.ipynb").write_text(json.dumps(solution))
    noisy = json.loads(json.dumps(solution))
    for cell in noisy["cells"]:   # a correct answer with a thread that never stops printing
        if nbio.grade_id(cell) == "square":
            cell["source"] = ("import threading, time\ndef spam():\n    while True:\n        print('x' * 300)\n"
                              "        time.sleep(0.002)\nthreading.Thread(target=spam, daemon=True).start()\n"
                              "def square(x):\n    return x * x")
    for student, nb in (("honest", solution), ("blank", assign.make_exercise(solution, "a", "b")), ("noisy", noisy)):
        (subs / student).mkdir(parents=True)
        (subs / student / "tiny.ipynb").write_text(json.dumps(nb))
    said: list[str] = []
    results = autograde(subs, tmp_path / "out", source, Limits(10, 40, 400), profile=None, log=said.append)
    assert {g.student_id: g.score for g in results} == {"honest": 5, "blank": 0, "noisy": 5}
    assert any("computed in the student's process" in line and "test_mean" in line for line in said)


def test_a_solution_that_fails_its_reference_run_stops_loudly_after_the_others(tmp_path: Path) -> None:
    """References run in the pool beside other assignments' students; a broken solution is the
    instructor's error: its students are not graded (nothing is saved for them), everyone else is,
    and the batch then raises the reference's error."""
    source, subs = tmp_path / "source", tmp_path / "subs"
    source.mkdir()
    good = nbio.read_notebook(TINY / "tiny.ipynb")
    broken = json.loads(json.dumps(good))
    for cell in broken["cells"]:
        if nbio.grade_id(cell) == "square":
            cell["source"] = "def square(x):\n    raise ValueError('the instructor broke this')"
    (source / "good.ipynb").write_text(json.dumps(good))
    (source / "broken.ipynb").write_text(json.dumps(broken))
    (subs / "ann").mkdir(parents=True)
    for name in ("good", "broken"):
        (subs / "ann" / f"{name}.ipynb").write_text(json.dumps(good))
    with pytest.raises(RuntimeError, match="reference run of broken.ipynb failed"):
        autograde(subs, tmp_path / "out", source, Limits(10, 40, 400), profile=None, jobs=2, log=lambda _: None)
    state = json.loads((tmp_path / "out" / "state.json").read_text())["entries"]
    assert state["ann/good"]["graded"]["tests"] and "ann/broken" not in state
    assert sum(t["score"] for t in state["ann/good"]["graded"]["tests"]) == 5
