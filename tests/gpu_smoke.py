"""Run notebooks on the `gpu` profile's code path on a CPU, before anyone pays for a GPU.

Each notebook runs in a fresh Jupyter kernel with

- ``COURSE_PROFILE=gpu`` and ``COURSE_SHRINK=1`` (profiles.shrink: tiny sizes, 1 epoch, same code path);
- ``COURSE_DEVICE=cpu:0``: a device that computes on the CPU but is not equal to ``torch.device("cpu")``,
  so a call that falls back to a model's parameters (which report plain ``cpu``) or a hard-coded
  ``"cpu"`` shows up as a call on another device than the run's;
- the real datasets (CIFAR-10, STL-10, text8) replaced by fake copies in their real on-disk formats
  (tests/fake_datasets.py), served from 127.0.0.1, so download, checksum and readers all run;
- a network guard: any connection or name lookup other than loopback raises;
- a spy on ``runtime.resolve_device``, the one function every ``training.fit``, ``evaluation.embed``,
  ``linear_probe``, ``knn`` and ``finetune`` call asks for its device: each call is recorded with the
  devices it resolved, and a call that resolved none is recorded too;
- CUDA's device rules (tests/device_guard.py): an op that mixes a tensor bound for the run's device
  with one left on the CPU raises as it would on a GPU, and so does ``.numpy()`` of a device tensor.

``run_notebook(path, ...)`` (or ``run_all``, two kernels at a time) returns a ``SmokeResult``: the error (if a cell raised), the calls, and
``on_run_device`` (no error, and every call resolved only the run's device).
"""
from __future__ import annotations

import json
import os
import re
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import fake_datasets
from _local_http import serve

RUN_DEVICE = "cpu:0"
SPIED = {"course_lib.training": ("fit",),
         "course_lib.evaluation": ("embed", "linear_probe", "knn", "finetune")}

# Runs in the kernel before the notebook (IPython startup file). Patches only what the test must
# replace: where the archives come from, their checksums, torchvision's md5 of fake files, the network.
_STARTUP = textwrap.dedent('''
    import dataclasses, functools, importlib, ipaddress, json, os, socket

    import sys
    sys.path.insert(0, os.environ["SMOKE_TESTS_DIR"])
    import device_guard
    device_guard.install(os.environ["COURSE_DEVICE"])

    _base, _sums, _log = os.environ["SMOKE_BASE_URL"], json.loads(os.environ["SMOKE_SHA256"]), os.environ["SMOKE_LOG"]

    def _loopback(host):
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    _connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def _guarded_connect(self, address, *a):
        if isinstance(address, tuple) and not _loopback(address[0]):
            raise OSError(f"smoke test: network is loopback only, refused {address[0]}")
        return _connect(self, address, *a)

    def _guarded_getaddrinfo(host, *a, **k):
        if host is not None and not _loopback(str(host)):
            raise socket.gaierror(f"smoke test: network is loopback only, refused to look up {host}")
        return _getaddrinfo(host, *a, **k)

    socket.socket.connect, socket.getaddrinfo = _guarded_connect, _guarded_getaddrinfo

    from course_lib.data import images as _images, text as _text
    for _name in ("cifar10", "stl10"):
        _images.ARCHIVES[_name] = dataclasses.replace(_images.ARCHIVES[_name], url=f"{_base}/{_name}",
                                                      sha256=_sums[_name], md5=None)
    _text.TEXT8_URL = f"{_base}/text8"
    os.environ["COURSE_TEXT8_SHA256"] = _sums["text8"]
    import torchvision.datasets.cifar, torchvision.datasets.stl10
    torchvision.datasets.cifar.check_integrity = lambda *a, **k: True   # md5s of the real files
    torchvision.datasets.stl10.check_integrity = lambda *a, **k: True

    from course_lib import runtime as _runtime
    _stack = []
    _resolve = _runtime.resolve_device

    def _spy_resolve(device=None, module=None):
        out = _resolve(device, module)
        if _stack:
            _stack[-1].append(str(out))
        return out

    _runtime.resolve_device = _spy_resolve

    def _spy(module, name):
        fn = getattr(module, name)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            _stack.append([])
            try:
                return fn(*args, **kwargs)
            finally:
                seen = _stack.pop()
                run = _runtime._current
                with open(_log, "a") as f:
                    f.write(json.dumps({"call": f"{module.__name__}.{name}", "devices": seen,
                                        "run_device": str(run.device) if run else None}) + "\\n")
        setattr(module, name, wrapper)

    for _module, _names in SPIED.items():
        for _name in _names:
            _spy(importlib.import_module(_module), _name)
''').replace("SPIED.items()", repr(SPIED) + ".items()")


@dataclass
class SmokeResult:
    """What one notebook did on the gpu code path."""

    notebook: str
    error: str | None = None
    calls: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def off_device(self) -> list[dict]:
        """Calls that resolved no device or another device than the run's."""
        return [c for c in self.calls if not c["devices"] or any(d != c["run_device"] for d in c["devices"])]

    @property
    def on_run_device(self) -> bool:
        return self.error is None and not self.off_device


@contextmanager
def fake_data_server() -> Iterator[tuple[str, dict[str, str]]]:
    """Serve fake CIFAR-10, STL-10 and text8 on 127.0.0.1; yield (base URL, sha256 by name)."""
    from course_lib.data import text

    # real English words in text8's alphabet (a-z only: text8 is ASCII)
    words = [w for s in text.wiki_sentences() for w in s if w.isascii() and w.isalpha()][:100_000]
    blobs = {"cifar10": fake_datasets.cifar10_archive(per_batch=8, n_test=100),
             "stl10": fake_datasets.stl10_archive(), "text8": fake_datasets.text8_archive(words)}
    with serve({f"/{name}": (200, blob, None) for name, blob in blobs.items()}) as base:
        yield base, {name: fake_datasets.sha256(blob) for name, blob in blobs.items()}


def environment(workdir: Path, base: str, sums: dict[str, str]) -> dict[str, str]:
    """The kernel's environment: gpu profile shrunk, the sentinel device, a private cache, the startup file.
    Claims are not strict: shrunk rows prove the code path, not the lessons."""
    ipython = workdir / "ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00_gpu_smoke.py").write_text(_STARTUP)
    (workdir / "cache").mkdir(exist_ok=True)
    return {"COURSE_PROFILE": "gpu", "COURSE_SHRINK": "1", "COURSE_DEVICE": RUN_DEVICE,
            "COURSE_DATA": str(workdir / "cache"), "IPYTHONDIR": str(ipython), "MPLBACKEND": "Agg",
            "SMOKE_BASE_URL": base, "SMOKE_SHA256": json.dumps(sums), "CLAIMS_STRICT": "0",
            "SMOKE_TESTS_DIR": str(Path(__file__).resolve().parent)}


def run_notebook(path: Path, workdir: Path, env: dict[str, str], timeout: int = 600) -> SmokeResult:
    """Execute one notebook in a fresh kernel started with env added to this process's; return its SmokeResult."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    log = workdir / f"calls-{path.stem}.jsonl"  # one log per notebook: several may run at once
    log.unlink(missing_ok=True)
    nb = nbformat.read(path, as_version=4)
    result = SmokeResult(path.stem)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
                       ).execute(env={**os.environ, **env, "SMOKE_LOG": str(log)})
    except CellExecutionError as err:
        result.error = re.sub(r"\x1b\[[0-9;]*m", "", str(err))[-3000:]   # no terminal colours in a report
    result.seconds = time.perf_counter() - start
    if log.exists():
        result.calls = [json.loads(line) for line in log.read_text().splitlines()]
    return result


def run_all(paths: list[Path], workdir: Path, env: dict[str, str], jobs: int = 2) -> dict[str, SmokeResult]:
    """Run notebooks `jobs` at a time (one torch thread each): {stem: result}.

    The first notebook runs alone, so its downloads fill the shared cache before the others read it.
    """
    from concurrent.futures import ThreadPoolExecutor

    env = {**env, "OMP_NUM_THREADS": "1"}
    first, rest = paths[:1], paths[1:]
    results = {p.stem: run_notebook(p, workdir, env) for p in first}
    with ThreadPoolExecutor(jobs) as pool:
        for result in pool.map(lambda p: run_notebook(p, workdir, env), rest):
            results[result.notebook] = result
    return results
