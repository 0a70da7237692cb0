"""Run one composed notebook in a fresh kernel; a subprocess of the batch, never the batch itself.

Protocol: the job arrives as JSON on stdin; results leave as JSON lines on the stdout pipe (one
per cell as soon as it finishes, so a killed worker still reports what ran, then a final
summary line). Only this process holds that pipe (the kernel gets /dev/null), so nothing the student's code
prints or writes can reach it. Run as a file, `python -s course_lib/grading/worker.py`, so that it
does not import course_lib (and with it torch): that saves seconds per submission.
"""
from __future__ import annotations

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
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

if __package__:
    from .sandbox import Watchdog, become_subreaper, kill_tree
else:  # run as a file: sys.path[0] is this folder; take sandbox from it, then drop the folder
    from sandbox import Watchdog, become_subreaper, kill_tree  # type: ignore[no-redef]
    del sys.path[0]

KEEP = 3000  # characters of output kept per cell for feedback


class GraderKernels(KernelSpecManager):
    """Always the grader's own Python: a submission's kernelspec or language is ignored."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """Every name resolves to this interpreter's ipykernel (no user site-packages)."""
        return KernelSpec(argv=[sys.executable, "-s", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="grader", language="python", env={})


class _Recorder(NotebookClient):
    """nbclient that keeps no outputs in memory, only a bounded digest per cell."""

    def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> None:
        rec, content = self.records[cell_index], msg.get("content", {})
        if msg["msg_type"] == "stream":
            text = str(content.get("text", ""))
            if content.get("name") == "stdout" and rec["nonce"]:
                rec["tail"] = (rec["tail"] + text)[-200:]
                if rec["nonce"] in rec["tail"]:
                    rec["nonce_seen"] = True
                    text = text.replace(rec["nonce"] + "\n", "").replace(rec["nonce"], "")
            rec["output"] = (rec["output"] + text)[:KEEP]
        elif msg["msg_type"] == "error":
            line = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            rec["error"] = line[:KEEP]
        return None


def run_job(job: dict, emit: Any = lambda line: None) -> dict:
    """Execute the job's cells in order; emit(dict) each cell's outcome as soon as it is known."""
    steps = job["steps"]
    records = [{"status": "not_run", "nonce": s.get("nonce"), "nonce_seen": False, "tail": "",
                "output": "", "error": ""} for s in steps]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s["code"]) for s in steps])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "grader", "language": "python"}

    def executed(cell: Any, cell_index: int, execute_reply: dict) -> None:
        content = (execute_reply or {}).get("content", {})
        records[cell_index]["status"] = "ok" if content.get("status") == "ok" else "error"
        if content.get("status") != "ok" and not records[cell_index]["error"]:
            records[cell_index]["error"] = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"[:KEEP]

    client = _Recorder(nb, timeout=job["cell_timeout"], allow_errors=True, interrupt_on_timeout=False,
                       startup_timeout=job.get("startup_timeout", 60), store_widget_state=False,
                       record_timing=False, on_cell_executed=executed, kernel_name="python3",
                       kernel_spec_manager=GraderKernels())
    client.records = records
    dog = Watchdog(job.get("memory_mb")).start()
    fatal, t0 = None, time.monotonic()
    try:
        with client.setup_kernel(cwd=job["workdir"], env=job["env"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL):
            dog.arm(job["notebook_timeout"])
            for i, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, i)
                except CellTimeoutError:
                    records[i]["status"] = "timeout"
                    fatal = f"cell {i + 1} ran longer than {job['cell_timeout']} s"
                    break
                except DeadKernelError:
                    records[i]["status"] = "died"
                    fatal = dog.reason or "the kernel died (the code exited or crashed the process)"
                    break
                finally:
                    emit({"cell": i, **{k: v for k, v in records[i].items() if k != "tail"}})
                if dog.reason:
                    fatal = dog.reason
                    break
    except Exception as e:  # noqa: BLE001 - any nbclient failure is a failed run, not a crash
        fatal = fatal or dog.reason or f"grader could not run the notebook: {type(e).__name__}: {e}"[:500]
    finally:
        dog.stop()
        kill_tree(os.getpid())
    for r in records:
        r.pop("tail")
    return {"cells": records, "fatal": fatal, "seconds": time.monotonic() - t0, "peak_mb": dog.peak_mb}


def main() -> None:
    """Read a job from stdin, write the result to the (private) stdout pipe."""
    result_pipe = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints cannot corrupt the protocol
    become_subreaper()
    job = json.load(sys.stdin)

    def emit(line: dict) -> None:
        result_pipe.write(json.dumps(line) + "\n")
        result_pipe.flush()

    result = run_job(job, emit)
    emit({"done": True, "fatal": result["fatal"], "seconds": result["seconds"], "peak_mb": result["peak_mb"]})


if __name__ == "__main__":
    main()
