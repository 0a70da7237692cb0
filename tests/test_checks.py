"""course_lib.checks: right answers pass, typical mistakes fail with a hint, stubs fail once."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib import checks


def rotate_ok(x):
    return torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]), torch.arange(4).repeat_interleave(len(x))


def rotate_clockwise(x):
    return torch.cat([torch.rot90(x, -k, dims=(2, 3)) for k in range(4)]), torch.arange(4).repeat_interleave(len(x))


def rotate_interleaved_labels_wrong(x):  # copies grouped per image, labels grouped per rotation
    x_rot = torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(4)], 1).flatten(0, 1)
    return x_rot, torch.arange(4).repeat_interleave(len(x))


def rotate_in_place(x):
    out = rotate_ok(x.clone())
    x.zero_()
    return out


def knn_ok(z_train, y_train, z_test, k=20):
    sim = F.normalize(z_test, dim=1) @ F.normalize(z_train, dim=1).T
    votes = F.one_hot(y_train[sim.topk(k, dim=1).indices], int(y_train.max()) + 1).sum(1)
    return votes.argmax(1)


def knn_euclidean(z_train, y_train, z_test, k=20):
    idx = torch.cdist(z_test, z_train).topk(k, largest=False).indices
    return F.one_hot(y_train[idx], int(y_train.max()) + 1).sum(1).argmax(1)


def knn_nearest_only(z_train, y_train, z_test, k=20):
    return knn_ok(z_train, y_train, z_test, k=1)


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_correct_answers_pass(capsys) -> None:
    checks.rotation_batch(rotate_ok)
    checks.knn_classifier(knn_ok)
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("All 5 checks passed.") == 2


@pytest.mark.parametrize("fn, hint", [(rotate_clockwise, "counter-clockwise"),
                                      (rotate_interleaved_labels_wrong, "rotating each copy back"),
                                      (rotate_in_place, "changed its input")])
def test_rotation_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.rotation_batch(fn)
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("fn, hint", [(knn_euclidean, "length of each feature vector"),
                                      (knn_nearest_only, "majority")])
def test_knn_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.knn_classifier(fn)
    assert hint in capsys.readouterr().out


def test_stub_fails_with_one_clear_message(capsys) -> None:
    with pytest.raises(checks.CheckFailed, match="write `stub` first") as caught:
        checks.rotation_batch(stub)
    out = capsys.readouterr().out
    assert out.count("`stub` is not written yet") == 1 and out.count("skipped: write `stub` first") == 4
    assert isinstance(caught.value, AssertionError)   # graders and pytest still see a failed assertion
