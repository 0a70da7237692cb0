#!/usr/bin/env python3
"""Pick where pip installs PyTorch from; print pip's index arguments (stdout) and why (stderr).

    python3 .ci/torch_index.py [auto|cpu|default|URL] [--cpu-index URL]

auto (the default): on a machine without an NVIDIA driver, PyTorch's CPU-only wheel index when it
can be reached (a ~1 GB environment instead of ~6 GB of CUDA libraries), else the default index
(pip's configured one, e.g. PyPI), saying so. With an NVIDIA driver, or on macOS (whose wheels have
no CUDA anyway), the default index. `make env TORCH_INDEX=default` (or cpu, or an index URL)
overrides the choice. Standard library only: it runs before the virtual environment exists.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CHOICES = ("auto", "cpu", "default")


def has_nvidia_driver() -> bool:
    """True if an NVIDIA kernel driver is loaded (or nvidia-smi runs)."""
    if Path("/proc/driver/nvidia/version").exists():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        return subprocess.run([smi], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def reachable(index: str, timeout: float = 5.0) -> bool:
    """True if ``index`` answers for the torch project page within ``timeout`` seconds."""
    request = urllib.request.Request(index.rstrip("/") + "/torch/",
                                     headers={"User-Agent": "ssl-course-setup"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status < 400
    except (OSError, ValueError):  # URLError, HTTPError, timeouts and refused connections
        return False


def choose(request: str = "auto", *, cpu_index: str = CPU_INDEX, system: str | None = None,
           nvidia: Callable[[], bool] = has_nvidia_driver,
           probe: Callable[[str], bool] = reachable) -> tuple[list[str], str]:
    """Return (pip arguments, one-line reason) for a request: auto, cpu, default or an index URL."""
    request = (request or "auto").strip()
    override = "set TORCH_INDEX=cpu, default or an index URL to choose yourself"
    if request == "default":
        return [], "default index (TORCH_INDEX=default)"
    if request == "cpu":
        return ["--index-url", cpu_index], f"CPU-only build from {cpu_index} (TORCH_INDEX=cpu)"
    if request != "auto":
        if "://" not in request:
            raise ValueError(f"TORCH_INDEX={request!r} is not one of {CHOICES} or an index URL "
                             "(e.g. https://download.pytorch.org/whl/cu126)")
        return ["--index-url", request], f"index {request} (TORCH_INDEX)"
    if (system or platform.system()) == "Darwin":
        return [], "default index: macOS wheels are CPU/MPS builds already"
    if nvidia():
        return [], f"NVIDIA driver found: default index (CUDA build); {override}"
    if probe(cpu_index):
        return (["--index-url", cpu_index],
                f"no NVIDIA driver: CPU-only build from {cpu_index} (no CUDA libraries); {override}")
    return [], (f"no NVIDIA driver, but {cpu_index} cannot be reached: default index (its torch "
                f"bundles CUDA libraries, several GB); {override}")


def main(argv: list[str]) -> int:
    """CLI for the Makefile: pip arguments on stdout, the reason on stderr."""
    cpu_index = CPU_INDEX
    if "--cpu-index" in argv:
        i = argv.index("--cpu-index")
        cpu_index = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    try:
        args, why = choose(argv[0] if argv else "auto", cpu_index=cpu_index)
    except ValueError as err:
        print(f"[torch] {err}", file=sys.stderr)
        return 2
    print(f"[torch] installing PyTorch: {why}", file=sys.stderr)
    print(" ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
