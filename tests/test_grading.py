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


# Issue 17's first row: answers that are the library's own implementation, statically visible (an
# import, importlib, __import__, the module's source) or not (getattr on a module a locked cell
# imported, inside the answer's body): each must score what the blank exercise scores.
LIBRARY_ANSWERS = {
    "00_pretext_warmup": {"rotate_batch": "from course_lib.vision.pretext import rotate_batch"},
    "01_negative_sampling": {"negative_sampling_loss": "negative_sampling_loss = getattr(word2vec, 'ns' + '_loss')"},
    "03_masking": {"mask_tokens": "mask_tokens = getattr(bert, 'mask' + '_tokens')"},
    "05_pretext_tasks": {"masked_l2": "from course_lib.vision import inpainting\nmasked_l2 = inpainting.masked_l2",
                         "sample_pairs": "def sample_pairs(x, patch, gap, jitter, generator=None):\n"
                                         "    f = getattr(patches, 'relative_position' + '_pairs')\n"
                                         "    return f(x, patch=patch, gap=gap, jitter=jitter, generator=generator)"},
    "07_nt_xent": {"nt_xent": "import inspect, course_lib.vision.simclr as m\nexec(inspect.getsource(m))"},
    "08_momentum_targets": {
        "momentum_update": "import importlib\nmomentum_update = importlib.import_module('course_lib.vision.moco').momentum_update",
        "byol_loss": "byol_loss = __import__('course_lib.vision.byol', fromlist=['x']).byol_loss"},
    "06_rotation_saliency": {"saliency": "from course_lib.vision.probing import saliency"},
    "09_knn_few_labels": {
        "weighted_knn_predict": "def weighted_knn_predict(z_train, y_train, z_test, k=20, temperature=0.07):\n"
                                "    return y_train[evaluation.nearest_neighbours(z_train, z_test, k=1)[1][:, 0]]",
        "label_subset": "label_subset = getattr(evaluation, 'label' + '_subset')"},
    "10_ab_bins": {
        "quantize_ab": "def quantize_ab(ab, bin_size):\n"
                       "    k = math.ceil(AB_MAX / bin_size)\n"
                       "    bins = col.ABBins(ab, bin_size=bin_size)\n"
                       "    cell = (bins.centres[getattr(bins, 'near' + 'est')(ab)] / bin_size).round().long().clamp(-k, k) + k\n"
                       "    return cell[..., 0] * (2 * k + 1) + cell[..., 1]",
        "rebalance_weights": "from course_lib.vision.colorization import ABBins\n"
                             "def rebalance_weights(p, lam=0.5):\n"
                             "    a = torch.repeat_interleave(10.0 * torch.arange(len(p)), (p * 10**5).round().long())\n"
                             "    return ABBins(torch.stack([a, 0 * a]).view(1, 2, 1, -1), lam=lam).weights"},
    "11_infonce_loss": {
        "infonce_loss": "def infonce_loss(scores):\n"
                        "    queue = scores.T.masked_fill(torch.eye(len(scores), dtype=torch.bool), -1e30)\n"
                        "    return getattr(course_lib.vision.moco, 'info' + '_nce')(torch.eye(len(scores)), scores, queue, 1.0)",
        "mi_lower_bound": "from course_lib.vision.moco import info_nce\n"
                          "def mi_lower_bound(scores):\n"
                          "    queue = scores.T.masked_fill(torch.eye(len(scores), dtype=torch.bool), -1e30)\n"
                          "    return math.log(len(scores)) - info_nce(torch.eye(len(scores)), scores, queue, 1.0)"},
}


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("real")
    for student, folder in (("solution", "solutions"), ("blank", "exercises")):
        (root / "subs" / student).mkdir(parents=True)
        for path in (REPO / folder).glob("*.ipynb"):
            shutil.copy(path, root / "subs" / student / path.name)
    (root / "subs" / "library").mkdir()
    for name, answers in LIBRARY_ANSWERS.items():
        nb = nbio.read_notebook(REPO / "exercises" / f"{name}.ipynb")
        for cell in nb["cells"]:
            if nbio.grade_id(cell) in answers:
                cell["source"] = answers[nbio.grade_id(cell)]
        (root / "subs" / "library" / f"{name}.ipynb").write_text(json.dumps(nb))
    results = autograde(root / "subs", root / "out", REPO / "solutions", Limits(120, 300, 6000),
                        profile="ci", jobs=2)
    return {(g.student_id, g.assignment): g for g in results}, root / "out"


def test_solutions_get_full_marks(real_batch) -> None:
    results, _ = real_batch
    for (student, assignment), g in results.items():
        if student == "solution":
            assert g.max_score > 0 and g.score == g.max_score, (assignment, g.problem, g.tests)


def test_the_library_does_not_answer_the_exercises(real_batch) -> None:
    results, out = real_batch
    for name, answers in LIBRARY_ANSWERS.items():
        g = results[("library", name)]
        assert g.score == results[("blank", name)].score == 0, (name, g.tests, g.notes)
        if name in ("00_pretext_warmup", "07_nt_xent", "08_momentum_targets"):   # refused before they run
            feedback = (out / "feedback" / "library" / f"{name}.md").read_text()
            assert "write this yourself" in feedback, name


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
    assert {r["student_id"] for r in rows} == {"solution", "blank", "library"}


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


def test_a_test_cell_without_got_values_fails_assign_unless_it_opts_in(tmp_path: Path, capsys) -> None:
    source = tmp_path / "solutions"
    source.mkdir()
    (source / "tiny.ipynb").write_text(json.dumps(_plain(nbio.read_notebook(TINY / "tiny.ipynb"))))
    assert cli.main(["assign", "--check", "--source", str(source), "--dest", str(tmp_path / "ex")]) == 1
    out = capsys.readouterr().out
    assert "test_square, test_square_hidden, test_mean compute no got* values" in out and "kernel-verdict" in out
    nb = _plain(nbio.read_notebook(TINY / "tiny.ipynb"))
    for cell in nb["cells"]:
        if nbio.role(cell) == "test":
            cell["source"] = "# grader: kernel-verdict\n" + nbio.source_text(cell)
    (source / "tiny.ipynb").write_text(json.dumps(nb))
    assert cli.main(["assign", "--source", str(source), "--dest", str(tmp_path / "ex")]) == 0


def test_the_library_gate_and_the_cell_reader() -> None:
    """In-process: the gate refuses callers outside course_lib and serves the library's own code;
    the reader refuses cells that could rebuild the library's version."""
    import torch

    from course_lib.grading import shadow
    from course_lib.vision import moco, pretext
    from course_lib.vision.pretext import rotate_batch as early_alias
    paths = ["course_lib.vision.pretext.rotate_batch", "course_lib.vision.moco.momentum_update"]
    saved = {p: (shadow._resolve(p), None) for p in paths}
    codes = {}
    for p, (fn, _) in saved.items():
        while hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        codes[p] = (fn, fn.__code__)   # the gate's code already, if a check gated it earlier in this process
    state = dict(shadow._REAL), set(shadow._ALWAYS)
    try:
        assert shadow.install(paths) == paths
        with pytest.raises(NotImplementedError, match="write this yourself"):
            early_alias(torch.zeros(1, 1, 2, 2))
        with pytest.raises(NotImplementedError, match="write this yourself"):
            moco.momentum_update(torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), 0.5)   # through torch.no_grad
        enc = torch.nn.Flatten()
        enc.dim = 4
        assert pretext.RotationNet(enc).loss(torch.rand(2, 1, 2, 2)).dim() == 0         # the library's own use
    finally:   # this process as it was: later tests call the library directly
        for p, (fn, code) in codes.items():
            fn.__code__ = code
        shadow._REAL.clear(), shadow._REAL.update(state[0])
        shadow._ALWAYS.clear(), shadow._ALWAYS.update(state[1])
    read = lambda code: shadow.delegation(code, paths)   # noqa: E731
    assert read("def rotate_batch(x):\n    return torch.cat([x, x]), None") is None
    assert read("from course_lib.vision.pretext import rotate_batch as r") is not None
    assert read("def rotate_batch(x):\n    return pretext.rotate_batch(x)") is not None
    assert read("import importlib\nm = importlib.reload(pretext)") is not None
    assert read("exec(open(pretext.__file__).read())") is not None
    assert read("!cat /work/course_lib/vision/pretext.py") is not None
    assert read("x = getattr(pretext, 'rotate' + '_batch')") is None   # this one the gate catches
