"""setup(): profile choice, seeding, budgets as attributes, the banner, and clear errors."""
from __future__ import annotations

import pytest
import torch

import course_lib
from course_lib import profiles, runtime


def test_ci_profile_banner(capsys: pytest.CaptureFixture[str]) -> None:
    run = course_lib.setup("00_tour")
    line = capsys.readouterr().out.splitlines()[0]
    assert run.profile == "ci" and run.dataset == "shapes" and run.device.type in ("cpu", "cuda")
    for part in ("00_tour", "profile=ci", "COURSE_PROFILE", f"device={run.device}", "dataset=shapes", "min"):
        assert part in line


def test_budget_keys_are_attributes() -> None:
    run = course_lib.setup("00_tour", quiet=True)
    assert run.n_train == run.budget["n_train"] > 0
    with pytest.raises(AttributeError, match="n_train"):
        run.no_such_setting
    with pytest.raises(TypeError):
        run.budget["epochs"] = 10**6  # read-only: notebooks cannot silently change the table


def test_seeds_make_runs_repeatable() -> None:
    course_lib.setup("00_tour", seed=3, quiet=True)
    a = torch.rand(4)
    course_lib.setup("00_tour", seed=3, quiet=True)
    assert torch.equal(a, torch.rand(4))


def test_unknown_profile_lists_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "tpu")
    with pytest.raises(ValueError, match="ci, cpu, gpu"):
        course_lib.setup("00_tour")


def test_unknown_notebook_lists_valid() -> None:
    with pytest.raises(ValueError, match="00_tour"):
        course_lib.setup("99_nothing")


def test_default_profile_follows_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.pick_profile() == ("cpu", "no CUDA")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.pick_profile()[0] == "gpu"
    monkeypatch.setenv("COURSE_PROFILE", "CI")
    assert runtime.pick_profile()[0] == "ci"


def test_auto_dataset_falls_back_offline_and_says_so(tmp_cache, monkeypatch, capsys) -> None:
    from course_lib.data import images

    # Point the real loader at a closed local port: the same failure as no network, but instant.
    monkeypatch.setattr(images, "CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz", raising=False)
    run = course_lib.setup("00_tour", profile="gpu")
    out = capsys.readouterr().out
    assert run.dataset == "shapes"
    assert "note" in out and "cifar" in out.lower()


def test_table_is_complete() -> None:
    for name, rows in profiles.BUDGETS.items():
        assert set(rows) == set(profiles.PROFILES), name
        keys = {frozenset(row) for row in rows.values()}
        assert len(keys) == 1, f"{name}: every profile must set the same keys"
        assert rows["ci"]["expected_min"] <= 2.0, f"{name}: ci notebooks budget about a minute"


def test_every_ci_row_is_bounded_by_epochs_not_time() -> None:
    problems = [msg for name in profiles.BUDGETS for msg in profiles.rule_violations(name)]
    assert not problems, "\n".join(problems)


def test_rule_catches_a_wall_clock_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {**profiles.BUDGETS["00_tour"]["ci"], "time_budget_s": 40.0}
    monkeypatch.setitem(profiles.BUDGETS, "00_tour", {**profiles.BUDGETS["00_tour"], "ci": row})
    assert "not a safety net" in profiles.rule_violations("00_tour")[0]


@pytest.mark.parametrize("profile, says", [("ci", "only a safety net"), ("cpu", "stops early")])
def test_banner_says_what_bounds_training(profile: str, says: str, capsys) -> None:
    course_lib.setup("00_tour", profile=profile)
    assert says in capsys.readouterr().out


def test_the_run_is_the_library_device_default(monkeypatch) -> None:
    from course_lib import runtime

    model = torch.nn.Linear(2, 2)
    monkeypatch.setattr(runtime, "_current", None)
    assert runtime.resolve_device(None, model) == torch.device("cpu")        # no run: the model's device
    monkeypatch.setenv("COURSE_DEVICE", "cpu:0")
    run = course_lib.setup("00_tour", quiet=True)
    assert run.device == torch.device("cpu:0") != torch.device("cpu")
    assert runtime.resolve_device(None, model) == run.device                  # a run: its device, not the model's
    assert runtime.resolve_device("cpu", model) == torch.device("cpu")       # an argument wins
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        course_lib.setup("00_tour", quiet=True)


def test_shrink_caps_sizes_but_keeps_the_code_path(monkeypatch) -> None:
    from course_lib import profiles

    row = profiles.budget("09_evaluation", "gpu")
    small = profiles.shrink(row)
    assert small["epochs"] == 1 and small["batch_size"] == 16 and small["encoder"] == "resnet18"
    assert small["n_train"] is None and small["image_size"] == 16       # "the whole split" stays a code path
    assert small["lr"] == row["lr"] and small["taus"] == row["taus"]
    monkeypatch.setenv("COURSE_SHRINK", "1")
    run = course_lib.setup("09_evaluation", profile="ci", quiet=True)
    assert run.epochs == 1 and any("COURSE_SHRINK" in n for n in run.notes)


@pytest.mark.parametrize("given, spin", [({}, "10000"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "30000000000"),
                                         ({"OMP_WAIT_POLICY": "PASSIVE"}, "0"), ({"GOMP_SPINCOUNT": "5"}, "5")])
def test_openmp_threads_spin_briefly_unless_told(given, spin) -> None:
    # Set before torch loads (libgomp reads it once): idle OpenMP threads spin briefly, then sleep, so
    # an idle machine stays fast and a busy one is not thrashed (benchmarks/omp_wait.py). A value the
    # user set is kept.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"   # libgomp prints its settings when it loads, on stderr
    env.update(given)
    code = "import sys, os, course_lib; assert 'torch' in sys.modules; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [given.get("GOMP_SPINCOUNT", "10000") if "OMP_WAIT_POLICY" not in given else "None"]
    if "GOMP_SPINCOUNT" in out.stderr:   # torch with GNU OpenMP (Linux wheels): the loaded library took it
        assert f"GOMP_SPINCOUNT = '{spin}'" in out.stderr, out.stderr
