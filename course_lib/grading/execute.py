"""Parent side of a graded run: a jailed kernel's folder, a worker subprocess, a hard stop.

Whatever happens inside (a hung kernel, a stopped or killed worker, forged lines on the pipe)
comes back as a result in which the cells that did not visibly succeed have failed: the grader
fails closed. Only lines signed with this run's key (which no kernel sees) count.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import isolation
from .cgroup import Cgroup
from .compose import Plan
from .sandbox import kill_marked, kill_tree

REPO = Path(__file__).resolve().parents[2]   # the folder that holds course_lib/
WORKER = Path(__file__).resolve().with_name("worker.py")
PASS_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
            "LD_LIBRARY_PATH", "MPLBACKEND", "PYTHONPATH")
MAX_LINES_BYTES = 64 * 2**20


@dataclass
class Limits:
    """Resource limits for one submission."""
    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    memory_mb: float | None = 4096.0
    startup_timeout: float = 60.0
    threads: int | None = None   # OpenMP/MKL threads per kernel (None: the library's default)


def kernel_env(home: str, profile: str | None, marker: str, threads: int | None = None) -> dict[str, str]:
    """The kernel's whole environment: a short allow-list, never the grader's secrets. With threads,
    OpenMP/MKL use that many (unless the grader's own environment already says)."""
    env = {k: v for k, v in os.environ.items()
           if k in PASS_ENV or k.startswith(("LC_", "COURSE_")) and k != "COURSE_DATA"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(GRADER_RUN=marker, HOME=home, TMPDIR=home, USER="student", LOGNAME="student",
               IPYTHONDIR=f"{home}/.ipython", MPLCONFIGDIR=f"{home}/.config/matplotlib",
               COURSE_DATA=f"{home}/.cache/ssl-course", PYTHONNOUSERSITE="1")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PATH", "/usr/bin:/bin")
    if profile:
        env["COURSE_PROFILE"] = profile
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(threads))
    return env


def _grader_data_cache() -> Path:
    root = os.environ.get("COURSE_DATA", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "ssl-course"


def _failed(plan: Plan, reason: str) -> dict:
    cells = [{"status": "not_run", "nonce_seen": False, "output": "", "error": "", "values": None}
             for _ in plan.steps]
    return {"cells": cells, "fatal": reason, "seconds": 0.0, "peak_mb": 0.0}


def _collect(plan: Plan, lines: list[bytes], key: bytes, err: str, why: str | None) -> dict:
    """Rebuild the result from the worker's signed lines; a missing summary is a failed run."""
    result, done, seq, forged = _failed(plan, ""), False, 0, 0
    for raw in lines:
        try:
            mac, n, payload = raw.decode("utf-8").rstrip("\n").split(" ", 2)
            good = hmac.new(key, f"{n}:{payload}".encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, good) or int(n) != seq:
                forged += 1
                continue
            seq += 1
            msg = json.loads(payload)
            if msg.get("done"):
                done = True
                result.update(fatal=msg.get("fatal"), seconds=float(msg.get("seconds", 0)),
                              peak_mb=float(msg.get("peak_mb", 0)))
            elif 0 <= msg["cell"] < len(plan.steps):
                result["cells"][msg["cell"]] = msg
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            forged += 1
    if not done:
        result["fatal"] = why or ("the grading worker was killed before it finished"
                                  + (f": {err[-300:]}" if err.strip() else ""))
    if forged:
        result["fatal"] = ((result["fatal"] + "; ") if result["fatal"] else "") + \
            f"{forged} unsigned line(s) on the result pipe were ignored"
    return result


def _stopped(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


def _drain(stream, sink: list[bytes], limit: int) -> None:
    total = 0
    for line in iter(lambda: stream.readline(2**22), b""):
        total += len(line)
        if total <= limit:
            sink.append(line)


def run_plan(plan: Plan, limits: Limits, profile: str | None = "ci", hide: list[Path] | None = None) -> dict:
    """Execute a composed plan in its own worker and jailed kernel; always returns a result dict."""
    iso = isolation.probe()
    base, marker = Path(tempfile.mkdtemp(prefix=f"grade-{os.getpid()}-")), secrets.token_hex(12)
    uid = isolation.take_uid() if iso.mode == "user" else None
    cgroup = None
    try:
        cgroup = Cgroup(iso.cgroup, iso.cgroup_root, limits.memory_mb)
        home = isolation.make_home(iso, base, uid, _grader_data_cache())
        env = kernel_env("/tmp" if iso.mode != "none" else str(home), profile, marker, limits.threads)
        argv = [sys.executable, "-s", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        if iso.mode != "none":
            argv = isolation.prepare(iso, base, uid, isolation.hidden_paths(list(hide or [])),
                                     limits.memory_mb, argv, env, cgroup)
        key = secrets.token_bytes(32)
        job = {"steps": [{"code": s.code, "nonce": s.nonce, "origin": s.origin} for s in plan.steps],
               "workdir": str(home), "env": env, "kernel_argv": argv, "key": key.hex(),
               "cgroup_version": cgroup.version if cgroup.path else None,
               "cgroup_path": str(cgroup.path) if cgroup.path else None,
               "transport": "ipc" if iso.mode != "none" and iso.net else "tcp",
               "cell_timeout": limits.cell_timeout, "notebook_timeout": limits.notebook_timeout,
               "memory_mb": limits.memory_mb, "startup_timeout": limits.startup_timeout}
        worker_env = dict(os.environ, PYTHONNOUSERSITE="1", JUPYTER_RUNTIME_DIR=str(home / ".runtime"),
                          PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
        proc = subprocess.Popen([sys.executable, "-s", str(WORKER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=base, env=worker_env,
                                start_new_session=True)
        lines: list[bytes] = []
        errs: list[bytes] = []
        readers = [threading.Thread(target=_drain, args=(proc.stdout, lines, MAX_LINES_BYTES), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stderr, errs, 2**16), daemon=True)]
        for t in readers:
            t.start()
        why = None
        try:
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
        except OSError:
            why = "the grading worker did not accept its job"
        hard_stop = time.monotonic() + limits.notebook_timeout + limits.startup_timeout + 10
        try:
            while proc.poll() is None:
                if time.monotonic() > hard_stop:
                    why = f"the grading worker did not finish within {limits.notebook_timeout:.0f} s"
                elif _stopped(proc.pid):
                    why = "the grading worker was stopped (SIGSTOP) by the submission"
                if why:
                    kill_tree(proc.pid, include_self=True)
                    proc.wait()
                    break
                time.sleep(0.05)
        finally:
            kill_tree(proc.pid)  # anything the kernel left behind (the worker is its subreaper)
            kill_marked(marker)  # and anything orphaned if the worker itself was killed
            cgroup.kill_and_remove()
        for t in readers:
            t.join(timeout=5)
        err = b"".join(errs).decode("utf-8", "replace").strip()
        return _collect(plan, lines, key, err, why)
    except OSError as e:
        return _failed(plan, f"the grader could not prepare the run: {e}")
    finally:
        if cgroup is not None:
            cgroup.kill_and_remove()
        if uid is not None:
            isolation.give_uid(uid)
        isolation.remove(base)
