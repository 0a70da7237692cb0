"""Parent side of a graded run: a throw-away working folder, a worker subprocess, a hard stop.

Whatever happens inside (a hung kernel, a crashed worker, garbage on the pipe) comes back as a
result in which the cells that did not visibly succeed have failed: the grader fails closed.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .compose import Plan
from .sandbox import kill_marked, kill_tree

REPO = Path(__file__).resolve().parents[2]   # the folder that holds course_lib/
WORKER = Path(__file__).resolve().with_name("worker.py")


@dataclass
class Limits:
    """Resource limits for one submission."""
    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    memory_mb: float | None = 4096.0
    startup_timeout: float = 60.0


def kernel_env(workdir: Path, profile: str | None, marker: str) -> dict[str, str]:
    """The kernel's environment: ours, plus course_lib on the path and a private IPython dir."""
    env = dict(os.environ, GRADER_RUN=marker)  # lets us find processes that escaped the tree
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["IPYTHONDIR"] = str(workdir / ".ipython")  # a startup file left by one student dies here
    env["PYTHONNOUSERSITE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    if profile:
        env["COURSE_PROFILE"] = profile
    return env


def _failed(plan: Plan, reason: str) -> dict:
    cells = [{"status": "not_run", "nonce_seen": False, "output": "", "error": ""} for _ in plan.steps]
    return {"cells": cells, "fatal": reason, "seconds": 0.0, "peak_mb": 0.0}


def _collect(plan: Plan, out: bytes, err: bytes, code: int | None) -> dict:
    """Rebuild the result from the worker's JSON lines; a missing summary means it was killed."""
    result = _failed(plan, "")
    done = False
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
            if msg.get("done"):
                done = True
                result.update(fatal=msg.get("fatal"), seconds=float(msg.get("seconds", 0)),
                              peak_mb=float(msg.get("peak_mb", 0)))
            elif 0 <= msg["cell"] < len(plan.steps):
                result["cells"][msg["cell"]] = msg
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    if not done:
        tail = err.decode("utf-8", "replace").strip()[-300:]
        result["fatal"] = (f"the grading worker was killed (exit {code}) before it finished"
                           + (f": {tail}" if tail else ""))
    return result


def run_plan(plan: Plan, limits: Limits, profile: str | None = "ci") -> dict:
    """Execute a composed plan in its own worker and kernel; always returns a result dict."""
    workdir, marker = Path(tempfile.mkdtemp(prefix="grade-")), secrets.token_hex(12)
    try:
        job = {"steps": [{"code": s.code, "nonce": s.nonce} for s in plan.steps],
               "workdir": str(workdir), "env": kernel_env(workdir, profile, marker),
               "cell_timeout": limits.cell_timeout, "notebook_timeout": limits.notebook_timeout,
               "memory_mb": limits.memory_mb, "startup_timeout": limits.startup_timeout}
        worker_env = dict(os.environ, PYTHONNOUSERSITE="1",
                          PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
        proc = subprocess.Popen([sys.executable, "-s", str(WORKER)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=worker_env, start_new_session=True)
        hard_stop = limits.notebook_timeout + limits.startup_timeout + 30
        try:
            out, err = proc.communicate(json.dumps(job).encode(), timeout=hard_stop)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid, include_self=True)
            result = _collect(plan, *proc.communicate(), proc.returncode)  # keep what did run
            result["fatal"] = f"the grading worker did not finish within {hard_stop:.0f} s"
            return result
        finally:
            kill_tree(proc.pid)  # anything the kernel left behind (the worker is its subreaper)
            kill_marked(marker)  # and anything orphaned if the worker itself was killed
        return _collect(plan, out, err, proc.returncode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
