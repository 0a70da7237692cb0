"""The fault suite: broken and hostile submissions of a tiny torch-free assignment, graded as ONE
batch. For each: the batch completes, the score is what it should be, nobody else is touched.

tiny.ipynb: answers `square` and `mean`; tests test_square (1 pt), test_square_hidden (2 pts,
hidden), test_mean (2 pts). Full marks are 5; "3" below means the square tests passed and the
mean test did not.
"""
from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path

import pytest

from course_lib.grading import nbio
from course_lib.grading.assign import make_exercise
from course_lib.grading.autograde import autograde
from course_lib.grading.execute import Limits

SOURCE = Path(__file__).parent / "grading_fixtures" / "source"
SOLUTION = nbio.read_notebook(SOURCE / "tiny.ipynb")
BLANK = make_exercise(SOLUTION, "source/tiny.ipynb", "x/tiny.ipynb")
LIMITS = Limits(cell_timeout=5, notebook_timeout=20, memory_mb=300)
GOOD_MEAN = "def mean(xs):\n    return sum(xs) / len(xs)\n"
SLEEPER = "sleep-forever-3f9a"   # a background process a submission leaves behind


def _nb(base: dict = SOLUTION, **answers: str) -> dict:
    """A copy of base with some answer cells' source replaced (by grade_id)."""
    nb = copy.deepcopy(base)
    for cell in nb["cells"]:
        if nbio.grade_id(cell) in answers:
            cell["source"] = answers[nbio.grade_id(cell)]
    return nb


def _drop_tests(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if nbio.role(c) != "test"]
    return nb


def _edit_tests(nb: dict, source: str) -> dict:
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        if nbio.role(c) == "test":
            c["source"] = source
    return nb


def _inflate_points(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        if nbio.role(c) == "test":
            c["metadata"]["nbgrader"].update(points=100, grade=False, solution=True, locked=False)
    return nb


def _reorder(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = nb["cells"][::-1]
    return nb


def _duplicate_answer(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "mean")
    stub = copy.deepcopy(nb["cells"][i])
    stub["source"] = "def mean(xs):\n    raise NotImplementedError()"
    nb["cells"].insert(i + 1, stub)
    return nb


def _added_cell(nb: dict) -> dict:
    nb = _nb(nb, square="def square(x):\n    return helper(x)")
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "square")
    nb["cells"].insert(i, {"cell_type": "code", "metadata": {}, "source": "def helper(x):\n    return x ** 2",
                           "outputs": [], "execution_count": None})
    return nb


def _meta(nb: dict, metadata: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["metadata"] = metadata
    return nb


def cases(out: Path, home: Path) -> dict[str, tuple[object, float]]:
    """{student_id: (notebook dict or raw bytes, expected score)}."""
    hostile_out = f"{str(out)!r}"
    return {
        "full_marks": (SOLUTION, 5),
        "blank": (BLANK, 0),
        "infinite_loop": (_nb(mean="while True:\n    pass"), 3),
        "loop_ignoring_interrupt": (_nb(mean="import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                            "    except KeyboardInterrupt:\n        pass"), 3),
        "os_exit": (_nb(mean=GOOD_MEAN + "import os\nos._exit(0)"), 3),
        "os_exit_in_test": (_nb(mean="def mean(xs):\n    import os\n    os._exit(0)"), 3),
        "sys_exit_in_test": (_nb(mean="def mean(xs):\n    import sys\n    sys.exit(0)"), 3),
        "raise_systemexit_cell": (_nb(mean=GOOD_MEAN + "raise SystemExit('bye')"), 5),
        "keyboardinterrupt_in_test": (_nb(mean="def mean(xs):\n    raise KeyboardInterrupt"), 3),
        "memory_bomb": (_nb(mean=GOOD_MEAN + "hog = []\nfor _ in range(60):\n    hog.append(b'x' * 50_000_000)"), 3),
        "warnings_on_stderr": (_nb(mean="import sys, warnings\ndef mean(xs):\n    warnings.warn('careful')\n"
                                       "    print('noise', file=sys.stderr)\n    return sum(xs) / len(xs)"), 5),
        "deleted_test_cells": (_drop_tests(SOLUTION), 5),
        "edited_test_cells": (_edit_tests(BLANK, "pass"), 0),
        "edited_metadata_points": (_inflate_points(SOLUTION), 5),
        "showtraceback_override": (_nb(square="get_ipython().showtraceback = lambda *a, **k: None\n"
                                              "get_ipython().showsyntaxerror = lambda *a, **k: None\n"
                                              "def square(x):\n    return 0"), 2),
        "shadowed_print": (_nb(square="print = lambda *a, **k: None\ndef square(x):\n    return x * x"), 5),
        "patched_builtins_print": (_nb(square="import builtins\nbuiltins.print = lambda *a, **k: None\n"
                                              "def square(x):\n    return x * x"), 0),
        "steals_nonce": (_nb(mean="def mean(xs):\n    import re\n    src = get_ipython().user_ns['In'][-1]\n"
                                  "    print(re.findall(r'[0-9a-f]{32}', src)[-1])\n    return -1"), 3),
        "fake_results_files": (_nb(BLANK, square=(
            "import json, pathlib\nout = pathlib.Path(" + hostile_out + ")\n"
            "pathlib.Path('results.json').write_text(json.dumps({'score': 5}))\n"
            "(out / 'gradebook.csv').write_text('assignment,student_id,score\\ntiny,fake_results_files,5\\n')\n"
            "(out / 'state.json').write_text('{\"version\": 1, \"entries\": {}}')\n"
            "print('score: 5/5 PASSED')\n"
            "def square(x):\n    raise NotImplementedError()")), 0),
        "deletes_files": (_nb(square="import os, shutil, pathlib\nout = pathlib.Path(" + hostile_out + ")\n"
                                     "for p in pathlib.Path('.').iterdir():\n"
                                     "    shutil.rmtree(p) if p.is_dir() else p.unlink()\n"
                                     "shutil.rmtree(out / 'feedback', ignore_errors=True)\n"
                                     "(out / 'gradebook.csv').unlink(missing_ok=True)\n"
                                     "def square(x):\n    return x * x"), 5),
        "huge_output": (_nb(square="for _ in range(20):\n    print('x' * 1_000_000)\n"
                                   "def square(x):\n    return x * x"), 5),
        "invalid_json": (b'{"cells": [ {"cell_type": "code", ', 0),
        "wrong_nbformat": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).encode(), 0),
        "missing_cells_key": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}).encode(), 0),
        "non_utf8_bytes": (b'{"cells": [], "nbformat": 4, "s": "\xff\xfe"}', 0),
        "missing_kernelspec": (_meta(SOLUTION, {}), 5),
        "r_kernelspec": (_meta(SOLUTION, {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"},
                                          "language_info": {"name": "R"}}), 5),
        "reordered_cells": (_reorder(SOLUTION), 5),
        "duplicated_answer": (_duplicate_answer(SOLUTION), 5),
        "added_helper_cell": (_added_cell(SOLUTION), 5),
        "kills_its_worker": (_nb(mean="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"), 3),
        "leaves_background_process": (_nb(square="import subprocess\nsubprocess.Popen(['bash', '-c', "
                                                 f"'exec -a {SLEEPER} sleep 600'], start_new_session=True)\n"
                                                 "def square(x):\n    return x * x"), 5),
        "a_startup_poison": (_nb(BLANK, square=(
            "import os, pathlib\nd = pathlib.Path(" + repr(str(home)) + ") / '.ipython/profile_default/startup'\n"
            "d.mkdir(parents=True, exist_ok=True)\n"
            "(d / '00-poison.py').write_text('def square(x): return x*x\\ndef mean(xs): return sum(xs)/len(xs)\\n')\n"
            "def square(x):\n    raise NotImplementedError()")), 0),
        "zz_blank_after_poison": (BLANK, 0),
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("faults")
    subs, out, home = root / "submissions", root / "out", root / "home"
    home.mkdir()
    expected = {}
    for student, (nb, score) in cases(out, home).items():
        (subs / student).mkdir(parents=True)
        raw = nb if isinstance(nb, bytes) else json.dumps(nb).encode()
        (subs / student / "tiny.ipynb").write_bytes(raw)
        expected[student] = score
    snapshots = []

    def after_each(graded, skipped):  # atomicity: every output is valid after every submission
        rows = list(csv.DictReader((out / "gradebook.csv").open()))
        json.loads((out / "state.json").read_text())
        snapshots.append({r["student_id"]: float(r["score"]) for r in rows})

    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)   # the poisoner writes its startup file here
    try:
        results = autograde(subs, out, SOURCE, LIMITS, profile=None, jobs=2, progress=after_each)
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
    return {"results": {g.student_id: g for g in results}, "expected": expected, "out": out,
            "subs": subs, "snapshots": snapshots, "home": home}


def test_batch_completes_with_expected_scores(batch) -> None:
    got = {s: g.score for s, g in batch["results"].items()}
    assert len(batch["expected"]) >= 15
    wrong = {s: (got.get(s), e) for s, e in batch["expected"].items() if got.get(s) != e}
    assert not wrong, f"(got, expected): {wrong}"
    assert all(g.max_score == 5 and len(g.tests) == 3 for g in batch["results"].values())


def test_gradebook_matches_and_was_repaired(batch) -> None:
    rows = list(csv.DictReader((batch["out"] / "gradebook.csv").open()))
    assert list(rows[0]) == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                             "email", "raw_score", "late_submission_penalty", "score", "max_score"]
    assert {r["student_id"]: float(r["score"]) for r in rows} == batch["expected"]
    for student in batch["expected"]:
        assert (batch["out"] / "feedback" / student / "tiny.md").is_file()
        res = json.loads((batch["out"] / "results" / student / "tiny" / "results.json").read_text())
        assert res["score"] == batch["expected"][student] and len(res["tests"]) == 3


def test_outputs_valid_after_every_submission_and_never_regress(batch) -> None:
    snaps = batch["snapshots"]
    assert len(snaps) == len(batch["expected"])
    for before, after in zip(snaps, snaps[1:]):
        for student, score in before.items():  # nobody's grade moves once written
            assert after.get(student) == score, student


def test_reasons_are_reported(batch) -> None:
    r = batch["results"]
    assert "not valid JSON" in r["invalid_json"].problem
    assert "nbformat 3" in r["wrong_nbformat"].problem
    assert "UTF-8" in r["non_utf8_bytes"].problem
    assert "cells" in r["missing_cells_key"].problem
    assert "memory limit" in r["memory_bomb"].problem
    assert "longer than" in r["infinite_loop"].problem
    assert "killed" in r["kills_its_worker"].problem
    fb = (batch["out"] / "feedback" / "blank" / "tiny.md").read_text()
    assert all(t in fb for t in ("test_square", "test_square_hidden", "test_mean"))
    assert "NotImplementedError" in fb and "square(-2)" not in fb   # hidden test code never shown


def test_startup_poison_landed_but_did_not_spread(batch) -> None:
    assert (batch["home"] / ".ipython/profile_default/startup/00-poison.py").is_file()
    assert batch["results"]["zz_blank_after_poison"].score == 0


def test_no_process_left_behind(batch) -> None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                assert SLEEPER not in (entry / "cmdline").read_text(errors="replace"), "background process survived"
            except OSError:
                pass


def test_resume_skips_finished_and_regrades_changed(batch) -> None:
    subs, out = batch["subs"], batch["out"]
    small = out.parent / "resume"
    for s in ("full_marks", "blank"):
        (small / s).mkdir(parents=True)
        (small / s / "tiny.ipynb").write_bytes((subs / s / "tiny.ipynb").read_bytes())
    res_out, seen = out.parent / "resume_out", []
    autograde(small, res_out, SOURCE, LIMITS, profile=None)
    autograde(small, res_out, SOURCE, LIMITS, profile=None, progress=lambda g, skipped: seen.append(skipped))
    assert seen == [True, True]
    (small / "blank" / "tiny.ipynb").write_bytes(json.dumps(SOLUTION).encode())  # a resubmission
    seen.clear()
    results = autograde(small, res_out, SOURCE, LIMITS, profile=None,
                        progress=lambda g, skipped: seen.append((g.student_id, skipped)))
    assert sorted(seen) == [("blank", False), ("full_marks", True)]
    assert [g.score for g in results] == [5, 5]


def test_notebook_time_limit(tmp_path: Path) -> None:
    nap = "import time\ntime.sleep(2.5)\n"
    nb = _nb(square=nap + "def square(x):\n    return x * x", mean=nap + GOOD_MEAN)
    (tmp_path / "subs" / "slow").mkdir(parents=True)
    (tmp_path / "subs" / "slow" / "tiny.ipynb").write_text(json.dumps(nb))
    [g] = autograde(tmp_path / "subs", tmp_path / "out", SOURCE, Limits(3, 4, 300), profile=None)
    assert g.score == 3 and "notebook time limit" in g.problem
