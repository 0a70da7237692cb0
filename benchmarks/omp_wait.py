"""OpenMP's wait policy, idle and busy: torch with OMP_WAIT_POLICY unset, PASSIVE, and GOMP_SPINCOUNT=10000 (course_lib's default).

torch's CPU kernels run on OpenMP threads (libgomp in the Linux wheels). Unset, libgomp lets a
thread that has finished its share spin for a while before it sleeps; on a machine whose cores are
taken by other work, those spinning threads steal the time the working ones need, and small ops
get many times slower. PASSIVE makes them sleep at once, which costs an idle machine several times
the time of small ops (waking a thread is slow); GOMP_SPINCOUNT=10000 spins about 30x less than the
default before sleeping, between the two. The settings are read when torch loads, so
each setting runs in a fresh process: a few AdamW steps of a tiny Transformer layer (notebook 03's
sizes) and an LSTM, with torch's default thread count, idle and beside one busy loop per core; the
trained weights' checksum shows that the policy changes the time, never the result.

    .venv/bin/python benchmarks/omp_wait.py            # minutes on a loaded machine (the unset runs thrash)
    .venv/bin/python benchmarks/omp_wait.py --trials 5

Prints a table (median seconds per trial) and, last, one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from reproducibility import busy_cores  # noqa: E402

WORKLOAD = r"""
import hashlib, time, torch
from torch import nn
torch.manual_seed(0)
layer = nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True)
lstm = nn.LSTM(64, 64, batch_first=True)
params = [*layer.parameters(), *lstm.parameters()]
opt = torch.optim.AdamW(params, lr=1e-3)
x = torch.randn(8, 128, 64)
def step():
    opt.zero_grad()
    (layer(x).square().mean() + lstm(x)[0].square().mean()).backward()
    opt.step()
step()
start = time.perf_counter()
for _ in range(STEPS):
    step()
secs = time.perf_counter() - start
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in params)).hexdigest()[:16]
print(secs, torch.get_num_threads(), digest)
"""


def trial(setting: dict[str, str], steps: int) -> tuple[float, int, str]:
    """Seconds for `steps` training steps in a fresh process with libgomp's variables as `setting` says
    (the others unset), torch's thread count there, and a checksum of the trained weights."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(setting)
    out = subprocess.run([sys.executable, "-c", WORKLOAD.replace("STEPS", str(steps))], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]), out[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="fresh processes per setting (alternated)")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    policies = {"unset": {}, "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}, "spin 10k": {"GOMP_SPINCOUNT": "10000"}}
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, list[float]]] = {}
    threads, digests = 0, set()
    for loaded in (False, True):
        cond = "busy" if loaded else "idle"
        results[cond] = {name: [] for name in policies}
        with busy_cores(loaded):
            for _ in range(args.trials):
                for name, policy in policies.items():
                    secs, threads, digest = trial(policy, args.steps)
                    results[cond][name].append(secs)
                    digests.add(digest)
    print(f"{args.steps} steps (Transformer layer + LSTM, d=64, batch 8, n=128), torch threads {threads}, "
          f"{os.cpu_count()} cores, load average {load_before:.1f} before the run; median of {args.trials} "
          "fresh processes, seconds")
    print(f"{'':24}{'OMP unset':>11}{'PASSIVE':>10}{'spin 10k':>10}{'unset/PASSIVE':>15}{'spin/PASSIVE':>14}")
    figures = {"steps": args.steps, "threads": threads, "cores": os.cpu_count(), "trials": args.trials,
               "loadavg_before": round(load_before, 2)}
    for cond, row in results.items():
        med = {name: statistics.median(v) for name, v in row.items()}
        ratio = med["unset"] / med["PASSIVE"]
        label = "idle" if cond == "idle" else "one busy loop per core"
        spin = med["spin 10k"] / med["PASSIVE"]
        print(f"{label:<24}{med['unset']:>11.2f}{med['PASSIVE']:>10.2f}{med['spin 10k']:>10.2f}{ratio:>15.2f}{spin:>14.2f}")
        figures[f"{cond}_unset_s"], figures[f"{cond}_passive_s"] = round(med["unset"], 3), round(med["PASSIVE"], 3)
        figures[f"{cond}_spin10k_s"] = round(med["spin 10k"], 3)
        figures[f"{cond}_ratio"], figures[f"{cond}_spin10k_ratio"] = round(ratio, 2), round(spin, 2)
    figures["identical_weights"] = len(digests) == 1
    print(f"trained weights {'bit-identical' if len(digests) == 1 else 'DIFFERENT'} in all "
          f"{2 * len(policies) * args.trials} processes (the policy changes how threads wait, not what they compute)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
