"""Failures that teach: a failed check is one short line in a notebook, and a cell that calls an
exercise function still left as its stub says which function to write first."""
from __future__ import annotations

import logging

import nbformat
import pytest
import torch

from course_lib import checks
from course_lib.checks import report


def rotate_batch(x):
    raise NotImplementedError()


def rotate_wrong(x):
    return torch.cat([torch.rot90(x, -k, dims=(2, 3)) for k in range(4)]), torch.arange(4).repeat_interleave(len(x))


def test_a_failed_check_renders_as_one_line(capsys) -> None:
    with pytest.raises(checks.CheckFailed) as caught:
        checks.rotation_batch(rotate_wrong)
    lines = caught.value._render_traceback_()
    assert len(lines) == 1 and "rotation_batch: 2 of 5 checks failed" in lines[0] and "FAIL lines above" in lines[0]
    assert "course_lib" not in lines[0]
    assert "FAIL" in capsys.readouterr().out


def test_stub_name_is_the_unwritten_function_only() -> None:
    try:
        rotate_batch(None)
    except NotImplementedError as err:
        assert report.stub_name(err) == "rotate_batch"
    try:   # a NotImplementedError from a library is not an exercise stub
        logging.Handler().emit(None)
    except NotImplementedError as err:
        assert report.stub_name(err) is None
    assert report.stub_name(ValueError()) is None
    assert "write it first" in report.write_first("rotate_batch")


def test_outside_ipython_nothing_is_installed() -> None:
    assert report.install_stub_message() is False


CELLS = [
    "from course_lib import checks\nimport logging, torch",
    "def rotate_batch(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
    "checks.rotation_batch(rotate_batch)",                       # the check cell: one line, names the stub
    "x_rot, y_rot = rotate_batch(torch.zeros(2, 1, 4, 4))",     # a locked cell using the answer
    "def rotate_batch(x):\n    return torch.cat([torch.rot90(x, -k, dims=(2, 3)) for k in range(4)]), "
    "torch.arange(4).repeat_interleave(len(x))\nchecks.rotation_batch(rotate_batch)",   # written, but wrong
    "logging.Handler().emit(None)",                              # any other NotImplementedError: usual traceback
    "from course_lib.vision.pretext import rotate_batch\nchecks.rotation_batch(rotate_batch)",   # the library's own
    "from course_lib.vision import pretext\ndef rotate_batch(x):\n    return pretext.rotate_batch(x)\n"
    "checks.rotation_batch(rotate_batch)",                       # an answer that delegates to it
    "checks.rotation_batch(lambda x: (torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]), "
    "torch.arange(4).repeat_interleave(len(x))))",               # a correct answer still passes
]


def test_in_a_real_kernel_failures_are_one_line() -> None:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    errors = [[o for o in cell.outputs if o.output_type == "error"] for cell in nb.cells]
    assert not errors[0] and not errors[1]
    check, locked, wrong, other, library, delegates = (e[0] for e in errors[2:8])
    assert not errors[8], errors[8]
    assert check.ename == "CheckFailed" and len(check.traceback) == 1
    assert "write `rotate_batch` first" in check.traceback[0]
    assert locked.ename == "NotImplementedError" and len(locked.traceback) == 1
    assert "`rotate_batch` is not written yet: write it first" in locked.traceback[0]
    assert wrong.ename == "CheckFailed" and len(wrong.traceback) == 1 and "of 5 checks failed" in wrong.traceback[0]
    assert other.ename == "NotImplementedError" and len(other.traceback) > 1   # IPython's full traceback
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
    assert "FAIL" in printed and "skipped: write `rotate_batch` first" in printed
    for refused in (library, delegates):   # the grader's message, student side (issue 17)
        assert refused.ename == "CheckFailed" and len(refused.traceback) == 1
        assert "write this yourself" in refused.traceback[0] and "pretext.rotate_batch" in refused.traceback[0]


def test_the_library_version_is_refused_outside_a_kernel_too() -> None:
    from course_lib.vision import pretext
    with pytest.raises(checks.CheckFailed, match="write this yourself"):
        checks.rotation_batch(pretext.rotate_batch)
    with pytest.raises(checks.CheckFailed, match="write this yourself"):   # an answer that delegates
        checks.rotation_batch(lambda x: pretext.rotate_batch(x))
    assert pretext.rotate_batch(torch.zeros(1, 1, 2, 2))[0].shape == (4, 1, 2, 2)   # outside a check: as usual


def test_a_decorated_answer_of_ones_own_is_not_the_library() -> None:
    from course_lib.vision import moco

    @torch.no_grad()
    def momentum_update(online, target, m):   # the same decorator as the library's: its own code
        for p, q in zip(online.parameters(), target.parameters()):
            q.mul_(m).add_(p, alpha=1 - m)

    checks.momentum_update(momentum_update)
    with pytest.raises(checks.CheckFailed, match="write this yourself"):
        checks.momentum_update(moco.momentum_update)
