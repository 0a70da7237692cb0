"""Run one composed notebook in a fresh kernel; a subprocess of the batch, never the batch itself.

Protocol: the job arrives as JSON on stdin; results leave as JSON lines on the stdout pipe (one
per cell as soon as it finishes, so a killed worker still reports what ran, then a final
summary line). Only this process holds that pipe (the kernel gets /dev/null), so nothing the student's code
prints or writes can reach it. Run as a file, `python -s course_lib/grading/worker.py`, so that it
does not import course_lib (and with it torch): that saves seconds per submission.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from typing import Any

# jsonschema (imported by nbformat) builds a URI grammar at import time, seconds on a slow CPU;
# the worker never validates a notebook, so let that optional import fail fast.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
import zmq  # noqa: E402
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

if __package__:
    from .cgroup import CgroupView
    from .sandbox import Watchdog, become_subreaper, kill_tree, no_dumping
else:  # run as a file: sys.path[0] is this folder; take sandbox from it, then drop the folder
    from cgroup import CgroupView  # type: ignore[no-redef]
    from sandbox import Watchdog, become_subreaper, kill_tree, no_dumping  # type: ignore[no-redef]
    del sys.path[0]

KEEP = 3000  # characters of output kept per cell for feedback
MAX_MESSAGE = 32 * 2**20   # bytes: a larger frame from the kernel is dropped by ZeroMQ before we buffer it


def _cap_messages() -> None:
    """Every ZeroMQ context made here refuses frames above MAX_MESSAGE (ZMQ_MAXMSGSIZE: the peer is
    disconnected before the frame is read), so one huge kernel message cannot grow this process."""
    init = zmq.Context.__init__

    def capped(self: zmq.Context, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)

    zmq.Context.__init__ = capped  # type: ignore[method-assign]


MIME = "application/vnd.course-grader.values+json"   # values.MIME (not imported: see above)
MAX_REPORT = 4_000_000
MAX_RESTARTS = 3


class GraderKernels(KernelSpecManager):
    """Always the grader's own Python (jailed when the job says so): the submission's kernelspec
    or language is ignored."""

    argv: list = []

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """Every name resolves to the job's kernel command."""
        return KernelSpec(argv=list(self.argv), display_name="grader", language="python", env={})


class _Recorder(NotebookClient):
    """nbclient that keeps no outputs in memory, only a bounded digest per cell."""

    replaying = False
    channels: dict = {}   # transport="ipc", ip=<run folder>/.runtime/k: a jailed kernel has no shared network

    def create_kernel_manager(self) -> Any:
        """nbclient ignores a kernel_spec_manager argument: build the manager with ours."""
        self.km = self.kernel_manager_class(kernel_name="python3", kernel_spec_manager=GraderKernels(),
                                            config=self.config, **self.channels)
        return self.km

    def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> None:
        if self.replaying:
            return None
        rec, content = self.records[cell_index], msg.get("content", {})
        if msg["msg_type"] == "stream":
            text = str(content.get("text", ""))
            if content.get("name") == "stdout" and rec["nonce"]:
                window = rec["tail"] + text   # the nonce is found wherever it is, even split in two
                rec["tail"] = window[-(len(rec["nonce"]) - 1):]
                if rec["nonce"] in window:
                    rec["nonce_seen"] = True
                    text = text.replace(rec["nonce"] + "\n", "").replace(rec["nonce"], "")
            rec["output"] = (rec["output"] + text)[:KEEP]
        elif msg["msg_type"] == "error":
            line = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            rec["error"] = line[:KEEP]
        elif msg["msg_type"] == "display_data" and rec["values"] is None:
            report = (content.get("data") or {}).get(MIME)
            if isinstance(report, dict) and report.get("nonce") == rec["nonce"] and rec["nonce"]:
                vals = report.get("values")
                rec["values"] = vals if isinstance(vals, str) and len(vals) <= MAX_REPORT else ""
        return None


def run_job(job: dict, emit: Any = lambda line: None) -> dict:
    """Execute the job's cells in order; emit(dict) each cell's outcome as soon as it is known.

    After a cell times out or kills its kernel, a fresh kernel replays every earlier cell that is
    not a test (skipping cells that hung or killed a kernel) and the run goes on with the next cell.
    """
    steps = job["steps"]
    records = [{"status": "not_run", "nonce": s.get("nonce"), "nonce_seen": False, "tail": "",
                "output": "", "error": "", "values": None} for s in steps]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s["code"]) for s in steps])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "grader", "language": "python"}
    GraderKernels.argv = job["kernel_argv"]
    if job.get("transport") == "ipc":
        _Recorder.channels = {"transport": "ipc", "ip": os.path.join(job["workdir"], ".runtime", "k")}
    cg = CgroupView(job.get("cgroup_version"), job.get("cgroup_path"))
    # with a cgroup, usage stops at the limit (the kernel may stall in reclaim instead of killing)
    limit = job.get("memory_mb") and job["memory_mb"] * (0.97 if cg.path else 1.0)
    dog = Watchdog(limit, usage=cg.usage_mb if cg.path else None, shown_mb=job.get("memory_mb")).start()
    fatal, notes, t0, i, restarts, bad = None, [], time.monotonic(), 0, 0, set()

    def executed(cell: Any, cell_index: int, execute_reply: dict) -> None:
        rec = records[cell_index]
        if client.replaying:
            return
        content = (execute_reply or {}).get("content", {})
        rec["status"] = "ok" if content.get("status") == "ok" else "error"
        if content.get("status") != "ok" and not rec["error"]:
            rec["error"] = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"[:KEEP]

    def why_dead() -> str:
        if dog.reason:
            return dog.reason
        if cg.path and cg.oom_kills() > ooms:
            return f"memory limit exceeded ({job.get('memory_mb'):.0f} MiB, counted by the cgroup)"
        return "the kernel died (the code exited or crashed the process)"

    while i < len(steps) and fatal is None:
        client = _Recorder(nb, timeout=job["cell_timeout"], allow_errors=True, interrupt_on_timeout=False,
                           startup_timeout=job.get("startup_timeout", 60), store_widget_state=False,
                           record_timing=False, on_cell_executed=executed, kernel_name="python3")
        client.records = records
        ooms, broke = cg.oom_kills(), None
        try:
            with client.setup_kernel(cwd=job["workdir"], env=job["env"], stdout=subprocess.DEVNULL,
                                     stderr=None if os.environ.get("GRADER_DEBUG") else subprocess.DEVNULL):
                if dog.deadline is None:
                    dog.arm(job["notebook_timeout"])
                client.replaying = True
                for j in range(i):
                    if steps[j].get("origin") == "test" or j in bad:
                        continue
                    try:
                        client.execute_cell(nb.cells[j], j)
                    except (CellTimeoutError, DeadKernelError):
                        fatal = f"replaying cell {j + 1} after a restart failed: {why_dead()}"
                        break
                client.replaying = False
                while fatal is None and i < len(steps):
                    try:
                        client.execute_cell(nb.cells[i], i)
                    except CellTimeoutError:
                        kill_tree(os.getpid())   # now: a busy kernel would make shutdown wait
                        records[i]["status"] = "timeout"
                        broke = dog.reason or f"cell {i + 1} ran longer than {job['cell_timeout']} s"
                    except DeadKernelError:
                        records[i]["status"] = "died"
                        broke = why_dead()
                    finally:
                        emit({"cell": i, **{k: v for k, v in records[i].items() if k != "tail"}})
                    if broke is None and dog.reason:
                        broke = dog.reason
                    i += 1
                    if broke:
                        break
        except Exception as e:  # noqa: BLE001 - any nbclient failure is a failed run, not a crash
            failed = dog.reason or f"grader could not run the notebook: {type(e).__name__}: {e}"[:500]
            if restarts and restarts < MAX_RESTARTS and not dog.expired and dog.left() > 1 and fatal is None:
                restarts += 1   # a restarted kernel that did not come up gets another try
                notes.append(f"a restarted kernel failed to start ({failed})")
                continue
            fatal = fatal or failed
        finally:
            kill_tree(os.getpid())
        if broke:
            bad.add(i - 1)
            notes.append(f"cell {i}: {broke}")
            if dog.expired or restarts >= MAX_RESTARTS or dog.left() < 1:
                fatal = broke
            else:
                restarts += 1
                settle = time.monotonic() + 5   # let the dead kernel's memory be freed first
                while limit and dog.usage() > 0.5 * limit and time.monotonic() < settle:
                    time.sleep(0.05)
                dog.memory_hit = None
    dog.stop()
    for r in records:
        r.pop("tail")
    if fatal is None and notes:
        fatal = "; ".join(notes) + " (the kernel was restarted and the earlier cells replayed)"
    return {"cells": records, "fatal": fatal, "seconds": time.monotonic() - t0, "peak_mb": dog.peak_mb,
            "restarts": restarts}


def main() -> None:
    """Read a job from stdin, write MAC-signed result lines to the (private) stdout pipe."""
    result_pipe = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints cannot corrupt the protocol
    become_subreaper()
    no_dumping()
    _cap_messages()
    job = json.load(sys.stdin)
    key, seq = bytes.fromhex(job.pop("key")), [0]

    def emit(line: dict) -> None:
        payload = json.dumps(line)
        mac = hmac.new(key, f"{seq[0]}:{payload}".encode(), hashlib.sha256).hexdigest()
        result_pipe.write(f"{mac} {seq[0]} {payload}\n")
        result_pipe.flush()
        seq[0] += 1

    result = run_job(job, emit)
    emit({"done": True, "fatal": result["fatal"], "seconds": result["seconds"], "peak_mb": result["peak_mb"],
          "restarts": result["restarts"]})


if __name__ == "__main__":
    main()
