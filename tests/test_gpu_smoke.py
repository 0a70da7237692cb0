"""The gpu profile's code path, proven on a CPU: every lecture notebook and solution runs under COURSE_PROFILE=gpu
(shrunk), on fake data in the real formats served over loopback, and every fit/embed/probe call
computes on the run's device. How: tests/gpu_smoke.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import pytest

import fake_datasets
import gpu_smoke
from _local_http import serve
from conftest import REPO
from course_lib import data
from course_lib.data import images

NOTEBOOKS = [*sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), REPO / "notebooks" / "appendix_setup.ipynb",
             *sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))]   # solutions too: their code runs on GPUs


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """(workdir, env) shared by the module's notebooks: one fake-data server, one cache."""
    workdir = tmp_path_factory.mktemp("gpu_smoke")
    with gpu_smoke.fake_data_server() as (base, sums):
        yield workdir, gpu_smoke.environment(workdir, base, sums)


@pytest.fixture(scope="module")
def results(smoke) -> dict[str, gpu_smoke.SmokeResult]:
    """Every lecture notebook and solution on the gpu path, two kernels at a time."""
    return gpu_smoke.run_all(NOTEBOOKS, *smoke)


def _explain(result: gpu_smoke.SmokeResult) -> str:
    if result.error:
        return f"{result.notebook} raised on the gpu path:\n{result.error}"
    calls = "\n".join(f"  {c['call']} resolved {c['devices'] or 'no device'} (run: {c['run_device']})"
                      for c in result.off_device[:10])
    return f"{result.notebook}: calls not on the run's device:\n{calls}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_gpu_path_on_the_runs_device(path: Path, results) -> None:
    result = results[path.stem]
    assert result.on_run_device, _explain(result)
    print(f"[time] {path.stem}: {result.seconds:.0f} s, {len(result.calls)} device calls")


def _tiny_notebook(tmp_path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('import course_lib\nrun = course_lib.setup("09_evaluation")'),
                nbformat.v4.new_code_cell(code)]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


_TRAIN = """
import torch
from course_lib import evaluation, training
model = torch.nn.Linear(4, 2)
batches = training.DeviceLoader(torch.randn(32, 4), torch.randint(0, 2, (32,)), batch_size=8)
training.fit(model, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), batches, epochs=1,
             progress=False{device})
z = evaluation.embed(model, torch.randn(16, 4){device})
"""


def test_the_spy_sees_a_call_on_another_device(tmp_path: Path, smoke) -> None:
    """The control: the same calls pass without a device (they follow the run) and fail with device="cpu"."""
    workdir, env = smoke
    good = gpu_smoke.run_notebook(_tiny_notebook(tmp_path, _TRAIN.format(device="")), workdir, env)
    assert good.on_run_device and {c["call"] for c in good.calls} >= {"course_lib.training.fit",
                                                                       "course_lib.evaluation.embed"}, _explain(good)
    bad = gpu_smoke.run_notebook(_tiny_notebook(tmp_path, _TRAIN.format(device=', device="cpu"')), workdir, env)
    assert bad.error is None and not bad.on_run_device
    assert {c["call"] for c in bad.off_device} == {"course_lib.training.fit", "course_lib.evaluation.embed"}


_LOAD = """
from course_lib import data
from course_lib.vision import methods
train = data.load_images(run.dataset, train=True, n=8, size=run.image_size)
model = methods.build_for(run, "simclr", tau=0.5)
"""
# case: (code that fails on a GPU, the same code fixed)
_MIXING = {
    # notebook 07, cell 6, before the fix: a slice of the CPU training set fed to a model on the device
    "a CPU batch into a model on the device": (_LOAD + "z = model(train.x[:4])",
                                              _LOAD + "z = model(train.x[:4].to(run.device))"),
    # solution 07 before the fix: a mask and a partner index made on the CPU, z on the device
    "a CPU mask on a device tensor": (
        "import torch\nz = torch.randn(8, 16, device=run.device)\n"
        "s = (z @ z.T).masked_fill(torch.eye(len(z), dtype=torch.bool), float('-inf'))",
        "import torch\nz = torch.randn(8, 16, device=run.device)\n"
        "s = (z @ z.T).masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float('-inf'))"),
    "a CPU index into a loss on the device": (
        "import torch\ns = torch.randn(8, 8, device=run.device)\n"
        "torch.nn.functional.cross_entropy(s, torch.cat([torch.arange(4, 8), torch.arange(4)]))",
        "import torch\ns = torch.randn(8, 8, device=run.device)\n"
        "torch.nn.functional.cross_entropy(s, torch.cat([torch.arange(4, 8), torch.arange(4)]).to(s.device))"),
    "numpy of a device tensor": ("import numpy, torch\nnumpy.asarray(torch.randn(8, 2, device=run.device))",
                                 "import numpy, torch\nnumpy.asarray(torch.randn(8, 2, device=run.device).cpu())"),
}


@pytest.mark.parametrize("case", _MIXING)
def test_mixing_the_runs_device_with_the_cpu_fails_as_on_a_gpu(case: str, tmp_path: Path, smoke) -> None:
    """The crashes a GPU found in 07 and solution 07 (and .numpy() of a device tensor) fail on the CPU
    smoke path (tests/device_guard.py); the same code with its tensors on one device runs."""
    bad_code, good_code = _MIXING[case]
    bad = gpu_smoke.run_notebook(_tiny_notebook(tmp_path, bad_code), *smoke)
    assert bad.error is not None and ("same device" in bad.error or "numpy" in bad.error), bad.error
    good = gpu_smoke.run_notebook(_tiny_notebook(tmp_path, good_code), *smoke)
    assert good.error is None, good.error


def test_stl10_binaries_download_extract_and_read(tmp_cache, monkeypatch) -> None:
    """STL-10's real format (column-major uint8 binaries, labels 1-10) through download, checksum and torchvision."""
    blob = fake_datasets.stl10_archive(n_train=20, n_test=10, n_unlabeled=5)
    monkeypatch.setattr("torchvision.datasets.stl10.check_integrity", lambda *a, **k: True)  # md5s of real files
    with serve({"/stl10.tgz": (200, blob, None)}) as base:
        archive = dataclasses.replace(images.ARCHIVES["stl10"], url=f"{base}/stl10.tgz",
                                      sha256=fake_datasets.sha256(blob), md5=None)
        monkeypatch.setitem(images.ARCHIVES, "stl10", archive)
        train = data.load_images("stl10", train=True, size=32)
    test = data.load_images("stl10", train=False, n=4)     # from the cache: the server is gone
    unlabeled = data.load_images("stl10", split="unlabeled")
    assert train.x.shape == (20, 3, 32, 32) and sorted(set(train.y.tolist())) == list(range(10))
    assert test.x.shape == (4, 3, 96, 96) and unlabeled.x.shape == (5, 3, 96, 96)
    assert train.classes == [f"class{i}" for i in range(10)]
