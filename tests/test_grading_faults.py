"""The fault suite: broken and hostile submissions of a tiny torch-free assignment, graded as ONE
batch. For each: the batch completes, the score is what it should be, nobody else is touched.

tiny.ipynb: answers `square` and `mean`; tests test_square (1 pt), test_square_hidden (2 pts,
hidden), test_mean (2 pts), each handing its `got` values to the grader. Full marks are 5; "3"
below means the square tests passed and the mean test did not.

The `atk_*` cases are the rows of issue 11's attack table (a hostile student, nothing implemented
unless said): each must score no more than the blank submission. Those that attack the machine
(the grader's files, processes and environment) run only where kernels are jailed as another
user (the grader runs as root, as in CI); elsewhere they are skipped with the reason.
"""
from __future__ import annotations

import copy
import csv
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

from course_lib.grading import autograde as autograde_module
from course_lib.grading import files, isolation, nbio, report
from course_lib.grading.assign import make_exercise
from course_lib.grading.autograde import autograde, grade_one
from course_lib.grading.execute import Limits

SOURCE = Path(__file__).parent / "grading_fixtures" / "source"
SOLUTION = nbio.read_notebook(SOURCE / "tiny.ipynb")
BLANK = make_exercise(SOLUTION, "source/tiny.ipynb", "x/tiny.ipynb")
LIMITS = Limits(cell_timeout=5, notebook_timeout=20, memory_mb=300)
GOOD_MEAN = "def mean(xs):\n    return sum(xs) / len(xs)\n"
SLEEPER = "sleep-forever-3f9a"   # a background process a submission leaves behind
DAEMON = "daemon-7c1e"           # a detached daemon with an empty environment
REPO = Path(__file__).resolve().parents[1]
ISOLATED = isolation.probe().mode == "user"
NEEDS_JAIL = pytest.mark.skipif(not ISOLATED, reason="kernels are jailed as another user only when the "
                                "grader runs as root with namespaces (CI does); attacks on the machine skipped")
WORKER_PY = REPO / "course_lib" / "grading" / "worker.py"
PWNED = [REPO / "course_lib" / "grading" / "_pwned.py", REPO / "course_lib" / "_pwned.pth"]
STUBS = "def square(x):\n    raise NotImplementedError()\n"
GRADER_BUG = "grader_bug"     # a submission on which the grader itself raises
# A kernel message far above the worker's cap (three 60 MB frames).
FLOOD = ("ip = get_ipython()\nfor _ in range(3):\n    ip.kernel.session.send(ip.kernel.iopub_socket, 'stream', "
         "{'name': 'stdout', 'text': 'x'}, parent=ip.kernel.get_parent('shell'), buffers=[b'x' * 60_000_000])\n")
# Subscribe to every other kernel's iopub this kernel can reach (TCP on 127.0.0.1, unix sockets) for 3 s.
NEIGHBOUR = (
    "import zmq, time, pathlib\nfrom ipykernel.connect import get_connection_info\nme = get_connection_info(unpack=True)\n"
    "mine = {me['iopub_port'], me['shell_port'], me['control_port'], me['stdin_port'], me['hb_port']}\nends = []\n"
    "for f in ('/proc/net/tcp', '/proc/net/tcp6'):\n    try:\n        for line in pathlib.Path(f).read_text().splitlines()[1:]:\n"
    "            local, state = line.split()[1], line.split()[3]\n            port = int(local.split(':')[1], 16)\n"
    "            if state == '0A' and port not in mine:\n                ends.append(f'tcp://127.0.0.1:{port}')\n"
    "    except OSError:\n        pass\n"
    "for line in pathlib.Path('/proc/net/unix').read_text().splitlines()[1:]:\n    parts = line.split()\n"
    "    if len(parts) > 7 and parts[7].startswith('/') and not parts[7].startswith(me['ip']):\n        ends.append('ipc://' + parts[7])\n"
    "ctx, heard = zmq.Context(), []\nsubs = []\nfor e in ends:\n    s = ctx.socket(zmq.SUB)\n    s.setsockopt(zmq.SUBSCRIBE, b'')\n"
    "    s.setsockopt(zmq.LINGER, 0)\n    s.connect(e)\n    subs.append((e, s))\nend = time.time() + 3\n"
    "while time.time() < end and not heard:\n    for e, s in subs:\n        if s.poll(50):\n            heard.append(e)\n"
    "for e, s in subs:\n    s.close()\nif heard:\n    raise RuntimeError('LEAKED a neighbour kernel iopub at ' + ', '.join(heard))\n")
# SysV shared memory, message queue, semaphore and a POSIX message queue under fixed keys: made by one
# submission, looked for by a later one (and by the test, on the host, after the batch).
IPC_KEY, MQ_NAME = 0x5EC12E7, "/grader-leak-7c1e"
IPC = (
    "import ctypes, ctypes.util, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "rt = ctypes.CDLL(ctypes.util.find_library('rt') or None, use_errno=True)\n"
    f"KEY, MQ = {IPC_KEY}, {MQ_NAME!r}.encode()\n"
    "def make():\n    libc.shmget(KEY, 4096, 0o1666)\n    libc.msgget(KEY, 0o1666)\n    libc.semget(KEY, 1, 0o1666)\n"
    "    rt.mq_open(MQ, os.O_CREAT | os.O_RDWR, 0o666, None)\n"
    "def look():\n    found = [n for n, r in (('shm', libc.shmget(KEY, 0, 0)), ('msg', libc.msgget(KEY, 0)),"
    " ('sem', libc.semget(KEY, 0, 0)), ('mqueue', rt.mq_open(MQ, os.O_RDONLY))) if r >= 0]\n    return found\n")


def _nb(base: dict = SOLUTION, **answers: str) -> dict:
    """A copy of base with some answer cells' source replaced (by grade_id)."""
    nb = copy.deepcopy(base)
    for cell in nb["cells"]:
        if nbio.grade_id(cell) in answers:
            cell["source"] = answers[nbio.grade_id(cell)]
    return nb


def _drop_tests(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if nbio.role(c) != "test"]
    return nb


def _edit_tests(nb: dict, source: str) -> dict:
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        if nbio.role(c) == "test":
            c["source"] = source
    return nb


def _inflate_points(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        if nbio.role(c) == "test":
            c["metadata"]["nbgrader"].update(points=100, grade=False, solution=True, locked=False)
    return nb


def _reorder(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = nb["cells"][::-1]
    return nb


def _duplicate_answer(nb: dict) -> dict:
    nb = copy.deepcopy(nb)
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "mean")
    stub = copy.deepcopy(nb["cells"][i])
    stub["source"] = "def mean(xs):\n    raise NotImplementedError()"
    nb["cells"].insert(i + 1, stub)
    return nb


def _added_cell(nb: dict) -> dict:
    nb = _nb(nb, square="def square(x):\n    return helper(x)")
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "square")
    nb["cells"].insert(i, {"cell_type": "code", "metadata": {}, "source": "def helper(x):\n    return x ** 2",
                           "outputs": [], "execution_count": None})
    return nb


def _meta(nb: dict, metadata: dict) -> dict:
    nb = copy.deepcopy(nb)
    nb["metadata"] = metadata
    return nb


def cases(out: Path, home: Path, subs: Path, port: int = 0, other: Path = Path("other")) -> dict[str, tuple[object, float]]:
    """{student_id: (notebook dict, raw bytes or a function that makes the student's folder, expected score)}.
    port: a listener on the host's 127.0.0.1 that serves the solution; other: another checkout's folder."""
    hostile_out = f"{str(out)!r}"
    return {
        "full_marks": (SOLUTION, 5),
        "blank": (BLANK, 0),
        "infinite_loop": (_nb(mean="while True:\n    pass"), 3),
        "loop_ignoring_interrupt": (_nb(mean="import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                            "    except KeyboardInterrupt:\n        pass"), 3),
        "os_exit": (_nb(mean=GOOD_MEAN + "import os\nos._exit(0)"), 3),
        "os_exit_in_test": (_nb(mean="def mean(xs):\n    import os\n    os._exit(0)"), 3),
        "sys_exit_in_test": (_nb(mean="def mean(xs):\n    import sys\n    sys.exit(0)"), 3),
        "raise_systemexit_cell": (_nb(mean=GOOD_MEAN + "raise SystemExit('bye')"), 5),
        "keyboardinterrupt_in_test": (_nb(mean="def mean(xs):\n    raise KeyboardInterrupt"), 3),
        "memory_bomb": (_nb(mean=GOOD_MEAN + "hog = []\nfor _ in range(60):\n    hog.append(b'x' * 50_000_000)"), 3),
        "warnings_on_stderr": (_nb(mean="import sys, warnings\ndef mean(xs):\n    warnings.warn('careful')\n"
                                       "    print('noise', file=sys.stderr)\n    return sum(xs) / len(xs)"), 5),
        "deleted_test_cells": (_drop_tests(SOLUTION), 5),
        "edited_test_cells": (_edit_tests(BLANK, "pass"), 0),
        "edited_metadata_points": (_inflate_points(SOLUTION), 5),
        "showtraceback_override": (_nb(square="get_ipython().showtraceback = lambda *a, **k: None\n"
                                              "get_ipython().showsyntaxerror = lambda *a, **k: None\n"
                                              "def square(x):\n    return 0"), 2),
        "shadowed_print": (_nb(square="print = lambda *a, **k: None\ndef square(x):\n    return x * x"), 5),
        "patched_builtins_print": (_nb(square="import builtins\nbuiltins.print = lambda *a, **k: None\n"
                                              "def square(x):\n    return x * x"), 5),
        "steals_nonce": (_nb(mean="def mean(xs):\n    import re\n    src = get_ipython().user_ns['In'][-1]\n"
                                  "    print(re.findall(r'[0-9a-f]{32}', src)[-1])\n    return -1"), 3),
        "fake_results_files": (_nb(BLANK, square=(
            "import json, pathlib\nout = pathlib.Path(" + hostile_out + ")\n"
            "pathlib.Path('results.json').write_text(json.dumps({'score': 5}))\n"
            "(out / 'gradebook.csv').write_text('assignment,student_id,score\\ntiny,fake_results_files,5\\n')\n"
            "(out / 'state.json').write_text('{\"version\": 1, \"entries\": {}}')\n"
            "print('score: 5/5 PASSED')\n"
            "def square(x):\n    raise NotImplementedError()")), 0),
        "deletes_files": (_nb(square="import os, shutil, pathlib\nout = pathlib.Path(" + hostile_out + ")\n"
                                     "for p in pathlib.Path('.').iterdir():\n"
                                     "    shutil.rmtree(p) if p.is_dir() else p.unlink()\n"
                                     "shutil.rmtree(out / 'feedback', ignore_errors=True)\n"
                                     "(out / 'gradebook.csv').unlink(missing_ok=True)\n"
                                     "def square(x):\n    return x * x"), 5),
        "huge_output": (_nb(square="for _ in range(20):\n    print('x' * 1_000_000)\n"
                                   "def square(x):\n    return x * x"), 5),
        "invalid_json": (b'{"cells": [ {"cell_type": "code", ', 0),
        "wrong_nbformat": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).encode(), 0),
        "missing_cells_key": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}).encode(), 0),
        "non_utf8_bytes": (b'{"cells": [], "nbformat": 4, "s": "\xff\xfe"}', 0),
        "missing_kernelspec": (_meta(SOLUTION, {}), 5),
        "r_kernelspec": (_meta(SOLUTION, {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"},
                                          "language_info": {"name": "R"}}), 5),
        "reordered_cells": (_reorder(SOLUTION), 5),
        "duplicated_answer": (_duplicate_answer(SOLUTION), 5),
        "added_helper_cell": (_added_cell(SOLUTION), 5),
        "kills_its_worker": (_nb(mean="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"), 3),
        "leaves_background_process": (_nb(square="import subprocess\nsubprocess.Popen(['bash', '-c', "
                                                 f"'exec -a {SLEEPER} sleep 600'], start_new_session=True)\n"
                                                 "def square(x):\n    return x * x"), 5),
        "a_startup_poison": (_nb(BLANK, square=(
            "import os, pathlib\nd = pathlib.Path(" + repr(str(home)) + ") / '.ipython/profile_default/startup'\n"
            "d.mkdir(parents=True, exist_ok=True)\n"
            "(d / '00-poison.py').write_text('def square(x): return x*x\\ndef mean(xs): return sum(xs)/len(xs)\\n')\n"
            "def square(x):\n    raise NotImplementedError()")), 0),
        "zz_blank_after_poison": (BLANK, 0),
        "atk_message_flood": (_nb(BLANK, square=FLOOD + STUBS), 0),
        **attacks(out, subs, home, port, other),
    }


def attacks(out: Path, subs: Path, home: Path, port: int = 0, other: Path = Path("other")) -> dict[str, tuple[object, float]]:
    """The issue's attack table, one submission per row (plus the fairness rows)."""
    rows = {
        "atk_patched_comparisons": (_nb(BLANK, square=(
            "import builtins, math\nbuiltins.sorted = lambda *a, **k: True\nmath.isclose = lambda *a, **k: True\n"
            "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
            "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
            "class Anything:\n    __eq__ = lambda self, other: True\n    __hash__ = object.__hash__\n"
            "def square(x):\n    return Anything()"), mean="def mean(xs):\n    return Anything()"), 0),
        "atk_input_transformer": (_nb(BLANK, square=(
            "import re\ndef cut(lines):\n    keep = [l for l in lines if re.search(r'[0-9a-f]{32}', l)]\n"
            "    return keep or lines\nget_ipython().input_transformers_post.append(cut)\n" + STUBS)), 0),
        "atk_ast_rewrite": (_nb(BLANK, square=(   # every later cell, tests included, wrapped in try/except
            "import ast\nclass Wrap(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
            "        swallow = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])\n"
            "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[swallow], orelse=[], finalbody=[])]\n"
            "        return ast.fix_missing_locations(node)\nget_ipython().ast_transformers.append(Wrap())\n" + STUBS)), 0),
        "atk_checks_replaced": (_nb(BLANK, square=(
            "import importlib, pkgutil, course_lib.checks as c\n"
            "for m in pkgutil.iter_modules(c.__path__):\n    mod = importlib.import_module(f'course_lib.checks.{m.name}')\n"
            "    for n in dir(mod):\n        if callable(getattr(mod, n)) and not n.startswith('_'):\n"
            "            setattr(mod, n, lambda *a, **k: None)\n" + STUBS)), 0),
        "atk_forged_pipe_lines": (_nb(BLANK, square=(
            "import json, os, signal\nfake = [json.dumps({'cell': i, 'status': 'ok', 'nonce_seen': True, 'output': '',"
            " 'error': '', 'values': None}) for i in range(9)] + [json.dumps({'done': True, 'fatal': None})]\n"
            "for fd in (1, 3):\n    try:\n        with open(f'/proc/{os.getppid()}/fd/{fd}', 'w') as f:\n"
            "            f.write('\\n'.join(fake) + '\\n')\n    except OSError:\n        pass\n"
            "if os.getppid() > 1:\n    os.kill(os.getppid(), signal.SIGKILL)\n" + STUBS)), 0),
        "atk_stops_worker": (_nb(BLANK, square=(
            "import os, signal\nif os.getppid() > 1:\n    os.kill(os.getppid(), signal.SIGSTOP)\n" + STUBS)), 0),
        "atk_memfd": (_nb(square="import os\nfd = os.memfd_create('hog')\nfor _ in range(40):\n"
                                 "    os.write(fd, b'x' * 50_000_000)\ndef square(x):\n    return x * x"), 2),
        "atk_background_printer": (_nb(square="import threading, time\ndef spam():\n    while True:\n"
                                              "        print('x' * 300, flush=True)\n        time.sleep(0.002)\n"
                                              "threading.Thread(target=spam, daemon=True).start()\n"
                                              "def square(x):\n    return x * x"), 5),
        "atk_symlink_to_solution": (_plant("symlink"), 0),
        "atk_symlinked_folder": (_plant("symlinked_folder"), 0),
        "atk_hard_link": (_plant("hard_link"), 0),
        "atk_fifo": (_plant("fifo"), 0),
        **({"atk_device": (_plant("device"), 0)} if os.geteuid() == 0 else {}),
        "atk_leaks_hidden_test": (_leaks_hidden_test(), 0),
        "=1+1": (b"{", 0),                                  # a formula, were the gradebook not escaped
        "non_utf8_name_\\xff": (_plant("non_utf8_name"), 0),  # the folder's name, escaped
        "deep_json": (b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 0),
        GRADER_BUG: (SOLUTION, 0),                          # the grader raises on it (see batch)
        "fair_added_cell_hangs": (_loop_cell(SOLUTION), 5),
        "fair_hidden_test_hangs": (_nb(square="def square(x):\n    while x < 0:\n        pass\n    return x * x"), 3),
    }
    if not ISOLATED:
        return rows
    hostile = {"repo": str(REPO), "source": str(SOURCE), "out": str(out), "subs": str(subs), "home": str(home)}
    probe = ("import json, os, pathlib\nP = json.loads(" + repr(json.dumps(hostile)) + ")\n"
             "P = {k: pathlib.Path(v) for k, v in P.items()}\n")
    return {**rows,
        "atk_reads_solutions": (_nb(BLANK, square=probe + (
            "import course_lib, sys\nleaks = []\nrepo = pathlib.Path(course_lib.__file__).parents[1]\n"
            "for p in [repo / 'solutions', repo / 'tests', repo / '.git', P['source'] / 'tiny.ipynb', P['out'] / 'state.json',"
            " P['out'] / '.grader-key', P['subs'] / 'full_marks' / 'tiny.ipynb', P['home']]:\n"
            "    try:\n        (list(p.iterdir()) if p.is_dir() else p.read_bytes()) and leaks.append(str(p))\n"
            "    except OSError:\n        pass\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n    try:\n"
            "        if b'PYTEST_CURRENT_TEST' in pathlib.Path(f'/proc/{pid}/environ').read_bytes():\n"
            "            leaks.append(f'environ of {pid}')\n    except OSError:\n        pass\n"
            "try:\n    for c in json.loads((P['source'] / 'tiny.ipynb').read_text())['cells']:\n"
            "        if c['metadata'].get('nbgrader', {}).get('solution'):\n            exec(''.join(c['source']))\n"
            "except OSError:\n    " + STUBS.replace("\n    ", "\n        ") +
            "if leaks:\n    raise RuntimeError('LEAKED ' + ', '.join(leaks))")), 0),
        "atk_rewrites_worker": (_nb(BLANK, square=probe + (
            "import sysconfig\nfor path, text in [(P['repo'] / 'course_lib/grading/worker.py', '\\n# pwned\\n'),"
            " (P['repo'] / 'course_lib/grading/_pwned.py', 'x = 1'), (P['repo'] / 'course_lib/_pwned.pth', 'import os'),"
            " (pathlib.Path(sysconfig.get_paths()['purelib']) / '_pwned.pth', 'import os')]:\n"
            "    try:\n        with open(path, 'a') as f:\n            f.write(text)\n    except OSError:\n        pass\n"
            + STUBS)), 0),
        "atk_overwrites_other": (_nb(BLANK, square=probe + (
            "blank = " + repr(json.dumps(BLANK)) + "\n"
            "for p in list(P['subs'].glob('*/tiny.ipynb')) + [P['subs'] / 'full_marks' / 'tiny.ipynb']:\n"
            "    try:\n        p.write_text(blank)\n    except OSError:\n        pass\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n    try:\n"
            "        for arg in pathlib.Path(f'/proc/{pid}/cmdline').read_text().split('\\0'):\n"
            "            if arg.endswith('.ipynb'):\n                pathlib.Path(arg).write_text(blank)\n"
            "    except OSError:\n        pass\n" + STUBS)), 0),
        "atk_forges_state_kills_grader": (_nb(BLANK, square=probe + (
            "import signal\nforged = {'version': 2, 'entries': {'atk_forges_state_kills_grader/tiny': {'key': 'x', "
            "'graded': {'student_id': 'atk_forges_state_kills_grader', 'assignment': 'tiny', 'tests': []}}}}\n"
            "try:\n    (P['out'] / 'state.json').write_text(json.dumps(forged))\nexcept OSError:\n    pass\n"
            "for sig in (signal.SIGSTOP, signal.SIGKILL):\n    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
            "        if pid not in (os.getpid(), 1):\n            try:\n                os.kill(pid, sig)\n"
            "            except OSError:\n                pass\n"
            "for pid in (os.getppid(), 1):\n    try:\n        os.kill(pid, signal.SIGKILL) if pid > 1 else None\n"
            "    except OSError:\n        pass\n" + STUBS)), 0),
        "atk_daemon_rewrites_gradebook": (_nb(BLANK, square=probe + (
            "import subprocess\ncmd = f\"sleep 3; printf 'assignment,student_id,score\\\\n' > {P['out']}/gradebook.csv; "
            f": {DAEMON}\"\n"
            "subprocess.Popen(['env', '-i', 'sh', '-c', cmd], start_new_session=True, stdin=subprocess.DEVNULL,"
            " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n" + STUBS)), 0),
        "atk_network_fetch": (_nb(BLANK, square=(
            "import json, urllib.request\ntry:\n"
            f"    nb = json.loads(urllib.request.urlopen('http://127.0.0.1:{port}/tiny.ipynb', timeout=3).read())\n"
            "    for c in nb['cells']:\n        if c['metadata'].get('nbgrader', {}).get('solution'):\n"
            "            exec(''.join(c['source']))\n"
            "    raise RuntimeError('LEAKED the solution over the network')\nexcept OSError:\n    pass\n" + STUBS)), 0),
        "atk_other_checkout": (_nb(BLANK, square=(
            "import json, pathlib\n" + STUBS + "for p in [pathlib.Path(" + repr(str(other)) + ") / 'solutions' / 'tiny.ipynb']:\n"
            "    try:\n        nb = json.loads(p.read_text())\n    except OSError:\n        continue\n"
            "    for c in nb['cells']:\n        if c['metadata'].get('nbgrader', {}).get('solution'):\n"
            "            exec(''.join(c['source']))\n"
            "    raise RuntimeError('LEAKED another checkout')\n")), 0),
        "atk_neighbour_iopub": (_nb(BLANK, square=NEIGHBOUR + STUBS), 0),
        "atk_leaves_ipc": (_nb(BLANK, square=IPC + "make()\n" + STUBS), 0),
        "atk_fork_bomb": (_nb(BLANK, square=(
            "import os, time\nkids = 0\ntry:\n    for _ in range(3000):\n        if os.fork() == 0:\n"
            "            time.sleep(600)\n            os._exit(0)\n        kids += 1\nexcept OSError:\n    pass\n"
            "print(kids, 'processes')\n" + STUBS)), 0),
        "zz_blank_after_attacks": (BLANK, 0),
        "zz_reads_ipc_after": (_nb(BLANK, square=IPC + "found = look()\nif found:\n"
                                                 "    raise RuntimeError('LEAKED ' + ', '.join(found))\n" + STUBS), 0),
    }


def _plant(kind: str) -> Callable[[Path], None]:
    """A student folder holding something that is not a plain notebook file, made (at `folder`)
    when the batch is written: reading it could hang the batch or hand over someone else's work."""
    def make(folder: Path) -> None:
        if kind == "symlinked_folder":   # "my folder is full_marks' folder"
            folder.symlink_to(folder.parent / "full_marks", target_is_directory=True)
            return
        if kind == "non_utf8_name":
            folder = folder.parent / os.fsdecode(b"non_utf8_name_\xff")
        folder.mkdir(parents=True)
        nb = folder / "tiny.ipynb"
        if kind == "symlink":
            nb.symlink_to(SOURCE / "tiny.ipynb")
        elif kind == "hard_link":
            other = folder.parent.parent / "elsewhere.ipynb"
            other.write_text(json.dumps(SOLUTION))
            os.link(other, nb)
        elif kind == "fifo":
            os.mkfifo(nb)
        elif kind == "device":   # /dev/zero: a read never ends
            os.mknod(nb, stat.S_IFCHR | 0o644, os.makedev(1, 5))
        else:
            nb.write_bytes(b"{")
    return make


def _leaks_hidden_test() -> dict:
    """Answers that raise the hidden test's source (base64, in the message and in a made-up exception
    class name), and a cell after the hidden test that raises the whole input history."""
    nb = _nb(BLANK, square=("import base64\ndef square(x):\n    if x == 3:\n        raise ValueError('visible')\n"
                            "    src = base64.b64encode(get_ipython().user_ns['In'][-1].encode()).decode()\n"
                            "    raise type('LEAK' + src[:60], (Exception,), {})('LEAK ' + src)"))
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "mean")
    nb["cells"].insert(i, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": "import base64\nraise RuntimeError('LEAK ' + base64.b64encode("
                                     "''.join(get_ipython().user_ns['In']).encode()).decode())"})
    return nb


def _loop_cell(nb: dict) -> dict:
    """A cell the student added before their answers that never ends: later tests must still run."""
    nb = copy.deepcopy(nb)
    i = next(i for i, c in enumerate(nb["cells"]) if nbio.grade_id(c) == "square")
    nb["cells"].insert(i, {"cell_type": "code", "metadata": {}, "source": "while True:\n    pass",
                           "outputs": [], "execution_count": None})
    return nb


class _Listener:
    """An HTTP server on the host's 127.0.0.1 serving the solution; counts the requests it got."""

    def __init__(self) -> None:
        import http.server
        import threading
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                listener.hits += 1
                body = (SOURCE / "tiny.ipynb").read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_batch(root: Path) -> dict:
    """Grade every case as one batch (jobs=2) in root; what the tests (and benchmarks/grading.py) check."""
    subs, out, home = root / "submissions", root / "out", root / "home"
    home.mkdir()
    # another readable checkout of the course, outside /tmp (which every kernel has of its own)
    other = REPO.parent / f".grader-faults-other-checkout-{os.getpid()}"
    (other / "solutions").mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE / "tiny.ipynb", other / "solutions" / "tiny.ipynb")
    listener = _Listener()
    expected = {}
    before = _leftovers()
    for student, (nb, score) in cases(out, home, subs, listener.port, other).items():
        if callable(nb):
            nb(subs / student)
        else:
            (subs / student).mkdir(parents=True)
            (subs / student / "tiny.ipynb").write_bytes(nb if isinstance(nb, bytes) else json.dumps(nb).encode())
        expected[student] = score
    snapshots = []

    def after_each(graded, skipped):  # atomicity: every output is valid after every submission
        rows = list(csv.DictReader((out / "gradebook.csv").open()))
        json.loads((out / "state.json").read_text())
        snapshots.append({r["student_id"]: float(r["score"]) for r in rows})

    def buggy(source_nb, raw, student, *args, **kwargs):   # a grader bug that only one submission meets
        if student == GRADER_BUG:
            raise RuntimeError("a bug in the grader")
        return grade_one(source_nb, raw, student, *args, **kwargs)

    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)   # the poisoner writes its startup file here
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(autograde_module, "grade_one", buggy)
            results = autograde(subs, out, SOURCE, LIMITS, profile=None, jobs=2, progress=after_each)
    finally:
        listener.close()
        shutil.rmtree(other, ignore_errors=True)
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
    return {"results": {g.student_id: g for g in results}, "expected": expected, "out": out,
            "subs": subs, "snapshots": snapshots, "home": home, "leftovers": _leftovers() - before,
            "hits": listener.hits, "ipc_left": _ipc_left()}


def won(batch: dict) -> list[str]:
    """The attack rows that won: scored above blank, changed another student's row, or got what they
    were after (a LEAKED note: the solution, a neighbour's messages, another's IPC objects)."""
    r, blank = batch["results"], batch["results"]["blank"].score
    rows = [s for s in r if s.startswith("atk_") and s not in ("atk_memfd", "atk_background_printer")]
    out = [s for s in rows if r[s].score > blank]
    out += [s for s, g in r.items() if any("LEAKED" in n for n in g.notes) and s not in out]
    out += [s for s, e in batch["expected"].items() if s not in rows and r[s].score != e and s not in out]
    if batch["hits"]:
        out.append("atk_network_fetch (the host's listener was reached)")
    if batch["ipc_left"]:
        out.append("atk_leaves_ipc (IPC objects left on the host: " + ", ".join(batch["ipc_left"]) + ")")
    return out


def _ipc_left() -> list[str]:
    """SysV objects with the attack's key, and its POSIX queue, on the host after the batch."""
    left = []
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        left += [kind for line in lines if line.split() and int(line.split()[0]) == IPC_KEY]
    if Path("/dev/mqueue" + MQ_NAME).exists():
        left.append("mqueue")
    return left


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):
    return run_batch(tmp_path_factory.mktemp("faults"))


def _leftovers() -> set[str]:
    """Run folders and cgroups this process's grader creates (none may outlive the batch); another
    grader's (make test's other worker may run the real batch at the same time) are not ours to judge."""
    found = {str(p) for p in Path(tempfile.gettempdir()).glob(f"grade-{os.getpid()}-*")}
    iso = isolation.probe()
    if iso.cgroup_root:
        found |= {str(p) for p in iso.cgroup_root.glob(f"run-{os.getpid()}-*")}
    return found


def test_batch_completes_with_expected_scores(batch) -> None:
    got = {s: g.score for s, g in batch["results"].items()}
    assert len(batch["expected"]) >= 15
    wrong = {s: (got.get(s), e) for s, e in batch["expected"].items() if got.get(s) != e}
    assert not wrong, f"(got, expected): {wrong}"
    assert all(g.max_score == 5 and len(g.tests) == 3 for g in batch["results"].values())


def test_gradebook_matches_and_was_repaired(batch) -> None:
    rows = list(csv.DictReader((batch["out"] / "gradebook.csv").open()))
    assert list(rows[0]) == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                             "email", "raw_score", "late_submission_penalty", "score", "max_score"]
    expected = {report.inert(s): score for s, score in batch["expected"].items()}
    assert {r["student_id"]: float(r["score"]) for r in rows} == expected
    assert "'=1+1" in {r["student_id"] for r in rows}   # a spreadsheet shows it as text
    assert [report.inert(c + "x") for c in "=+-@\t\r"] == ["'" + c + "x" for c in "=+-@\t\r"]
    for student in batch["expected"]:
        assert (batch["out"] / "feedback" / student / "tiny.md").is_file()
        res = json.loads((batch["out"] / "results" / student / "tiny" / "results.json").read_text())
        assert res["score"] == batch["expected"][student] and len(res["tests"]) == 3


def test_outputs_valid_after_every_submission_and_never_regress(batch) -> None:
    snaps = batch["snapshots"]
    assert len(snaps) == len(batch["expected"])
    for before, after in zip(snaps, snaps[1:]):
        for student, score in before.items():  # nobody's grade moves once written
            assert after.get(student) == score, student


def test_reasons_are_reported(batch) -> None:
    r = batch["results"]
    assert "not valid JSON" in r["invalid_json"].problem
    assert "nbformat 3" in r["wrong_nbformat"].problem
    assert "UTF-8" in r["non_utf8_bytes"].problem
    assert "cells" in r["missing_cells_key"].problem
    assert "memory limit" in r["memory_bomb"].problem
    assert "longer than" in r["infinite_loop"].problem
    if isolation.probe().mode == "none":   # jailed, it cannot even see its worker
        assert "killed" in r["kills_its_worker"].problem
    assert "memory limit" in r["atk_memfd"].problem
    assert "restarted" in r["fair_added_cell_hangs"].problem and "restarted" in r["fair_hidden_test_hangs"].problem
    for student, why in (("atk_symlink_to_solution", "symbolic link"), ("atk_symlinked_folder", "symbolic link"),
                         ("atk_hard_link", "hard link"), ("atk_fifo", "FIFO"), ("atk_device", "device"),
                         ("deep_json", "nested too deeply"), (GRADER_BUG, "the grader failed"),
                         ("non_utf8_name_\\xff", "not valid JSON")):
        if student in r:
            assert why in r[student].problem, (student, r[student].problem)
            assert why in (batch["out"] / "feedback" / student / "tiny.md").read_text()
    fb = (batch["out"] / "feedback" / "blank" / "tiny.md").read_text()
    assert all(t in fb for t in ("test_square", "test_square_hidden", "test_mean"))
    assert "NotImplementedError" in fb and "square(-2)" not in fb   # hidden test code never shown


def test_startup_poison_landed_but_did_not_spread(batch) -> None:
    landed = (batch["home"] / ".ipython/profile_default/startup/00-poison.py").is_file()
    assert landed == (isolation.probe().mode == "none")   # a jailed kernel cannot even write there
    assert batch["results"]["zz_blank_after_poison"].score == 0


def test_every_attack_scores_no_more_than_blank(batch) -> None:
    r = batch["results"]
    attacks = [s for s in r if s.startswith("atk_") and s not in ("atk_memfd", "atk_background_printer")]
    assert len(attacks) >= (10 if ISOLATED else 5)
    assert {s: r[s].score for s in attacks} == {s: r["blank"].score for s in attacks}
    assert r["atk_background_printer"].score == 5   # correct code is not failed by noisy output


@NEEDS_JAIL
def test_jailed_attacks_changed_nothing_outside(batch) -> None:
    r = batch["results"]
    assert not any("LEAKED" in n for n in r["atk_reads_solutions"].notes), r["atk_reads_solutions"].notes
    assert "# pwned" not in WORKER_PY.read_text() and not any(p.exists() for p in PWNED)
    assert json.loads((batch["subs"] / "full_marks" / "tiny.ipynb").read_text()) == SOLUTION
    assert r["zz_blank_after_attacks"].score == 0 and r["full_marks"].score == 5


def test_nothing_left_behind(batch) -> None:
    assert batch["leftovers"] == set()


def test_no_attack_won(batch) -> None:
    """Issue 17's done-when: no row scores above blank, changes another row, or gets what it was after."""
    assert won(batch) == []
    if ISOLATED:   # kernels have their own network and IPC namespaces
        assert batch["hits"] == 0 and batch["ipc_left"] == []


def test_a_huge_kernel_message_is_dropped_not_buffered(batch) -> None:
    """Three 60 MB frames: ZeroMQ drops them before the worker buffers them (the worker's peak stays
    small); the messages lost with the dropped connection end the run at the notebook time limit."""
    g = batch["results"]["atk_message_flood"]
    assert g.score == 0 and len(g.tests) == 3


def test_no_process_left_behind(batch) -> None:
    """No process of the batch survives it. A uid slot this process used that another grader holds
    right now (another test worker's batch) is skipped; the free ones are held while we look."""
    free, fds = set(), []
    try:
        for uid in sorted(isolation.USED):
            fd = os.open(isolation._lock_dir() / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                free.add(uid)
            except OSError:
                pass   # a kernel of another grader runs as this uid now
            fds.append(fd)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_text(errors="replace")
                    assert SLEEPER not in cmdline and DAEMON not in cmdline, "background process survived"
                    assert entry.stat().st_uid not in free, f"a kernel's process survived: {cmdline}"
                except OSError:
                    pass
    finally:
        for fd in fds:
            os.close(fd)


def test_resume_skips_finished_and_regrades_changed(batch) -> None:
    subs, out = batch["subs"], batch["out"]
    small = out.parent / "resume"
    for s in ("full_marks", "blank"):
        (small / s).mkdir(parents=True)
        (small / s / "tiny.ipynb").write_bytes((subs / s / "tiny.ipynb").read_bytes())
    res_out, seen = out.parent / "resume_out", []
    autograde(small, res_out, SOURCE, LIMITS, profile=None)
    autograde(small, res_out, SOURCE, LIMITS, profile=None, progress=lambda g, skipped: seen.append(skipped))
    assert seen == [True, True]
    (small / "blank" / "tiny.ipynb").write_bytes(json.dumps(SOLUTION).encode())  # a resubmission
    seen.clear()
    results = autograde(small, res_out, SOURCE, LIMITS, profile=None,
                        progress=lambda g, skipped: seen.append((g.student_id, skipped)))
    assert sorted(seen) == [("blank", False), ("full_marks", True)]
    assert [g.score for g in results] == [5, 5]


def test_notebook_time_limit(tmp_path: Path) -> None:
    nap = "import time\ntime.sleep(2.5)\n"
    nb = _nb(square=nap + "def square(x):\n    return x * x", mean=nap + GOOD_MEAN)
    (tmp_path / "subs" / "slow").mkdir(parents=True)
    (tmp_path / "subs" / "slow" / "tiny.ipynb").write_text(json.dumps(nb))
    [g] = autograde(tmp_path / "subs", tmp_path / "out", SOURCE, Limits(3, 4, 300), profile=None)
    assert g.score == 3 and "notebook time limit" in g.problem


def test_forged_state_is_regraded_and_a_grader_killer_scores_zero(batch, tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    for s, nb in (("honest", SOLUTION), ("killer", SOLUTION)):
        (subs / s).mkdir(parents=True)
        (subs / s / "tiny.ipynb").write_text(json.dumps(nb))
    autograde(subs, out, SOURCE, LIMITS, profile=None)
    state = json.loads((out / "state.json").read_text())
    entry = state["entries"]["honest/tiny"]
    entry["graded"]["tests"][0]["score"] = 0.0            # forged: the honest student loses a point
    state["entries"]["killer/tiny"]["status"] = "in progress"  # forged too: no valid signature
    (out / "state.json").write_text(json.dumps(state))
    results = {g.student_id: g.score for g in autograde(subs, out, SOURCE, LIMITS, profile=None)}
    assert results == {"honest": 5, "killer": 5}          # both entries failed their MAC: regraded
    # a genuine "in progress" entry (the grader died on this submission) scores 0 on the rerun
    (subs / "killer" / "tiny.ipynb").write_text(json.dumps(_nb(square="import time\ntime.sleep(60)")))
    grader = _grader_cli(subs, out)
    _in_progress(out, "killer/tiny")
    grader.kill()
    grader.wait()
    seen = []
    results = autograde(subs, out, SOURCE, LIMITS, profile=None, progress=lambda g, skipped: seen.append(skipped))
    got = {g.student_id: g for g in results}
    assert got["killer"].score == 0 and "stopped the grader" in got["killer"].problem
    assert got["honest"].score == 5
    iso = isolation.probe()   # what the killed grader left (its worker, folder, cgroup) is swept
    isolation.sweep_stale(iso.cgroup_root)
    assert not list(Path(tempfile.gettempdir()).glob(f"grade-{grader.pid}-*"))
    assert not (iso.cgroup_root and list(iso.cgroup_root.glob(f"run-{grader.pid}-*")))


def test_hidden_test_source_never_reaches_outputs(batch) -> None:
    g = batch["results"]["atk_leaks_hidden_test"]
    assert {t.name: t.message for t in g.tests}["test_square_hidden"] == "the hidden test raised an exception"
    assert "one of your cells raised RuntimeError" in g.notes   # raised after the hidden test: type only
    for path in (batch["out"] / "feedback" / g.student_id / "tiny.md",
                 batch["out"] / "results" / g.student_id / "tiny" / "results.json"):
        text = path.read_text()
        assert "LEAK" not in text and "square(-2)" not in text, path
    assert "ValueError: visible" in {t.name: t.message for t in g.tests}["test_square"]  # visible: said in full


def _deep_tree(top: Path, depth: int) -> None:
    """top/d/d/.../d (depth levels), with a file, a link and a FIFO at the bottom."""
    here = os.getcwd()
    try:
        top.mkdir()
        os.chdir(top)
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
        Path("f").write_text("x")
        os.symlink("/", "link")
        os.mkfifo("fifo")
    finally:
        os.chdir(here)


def test_deep_work_folders_are_removed_and_swept(tmp_path: Path, monkeypatch) -> None:
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.path.isdir("/dev/shm") else tmp_path
    try:   # 5000 levels: too deep for shutil.rmtree (RecursionError) and for any path
        _deep_tree(scratch / "run", 5000)
        isolation.remove(scratch / "run")
        assert not (scratch / "run").exists()
        dead = subprocess.Popen(["true"])
        dead.wait()
        _deep_tree(scratch / f"grade-{dead.pid}-x", 5000)   # left by a grader that was killed
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        isolation.sweep_stale(None)
        assert list(scratch.iterdir()) == []
    finally:
        if scratch != tmp_path:
            shutil.rmtree(scratch, ignore_errors=True)


def test_reading_refuses_what_is_not_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("{}")
    os.link(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "a", tmp_path / "c")
    os.mkfifo(tmp_path / "d")
    for name, why in (("a", "hard link"), ("c", "symbolic link"), ("d", "FIFO")):
        with pytest.raises(files.Refused, match=why):
            files.read_plain(tmp_path / name)
    os.unlink(tmp_path / "b")
    os.unlink(tmp_path / "d")
    assert files.read_plain(tmp_path / "a") == b"{}"
    with pytest.raises(files.Refused, match="/c is a symbolic link"):
        files.check_tree(tmp_path)


def _grader_cli(subs: Path, out: Path) -> subprocess.Popen:
    """The command-line grader on subs, in a process of its own."""
    return subprocess.Popen([sys.executable, "-m", "course_lib.grading", "autograde", str(subs), "--out", str(out),
                             "--source", str(SOURCE), "--profile", "", "--cell-timeout", "5",
                             "--notebook-timeout", "20", "--memory-mb", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)


def _in_progress(out: Path, name: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((out / "state.json").read_text())["entries"].get(name, {}).get("status") == "in progress":
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    return False


def test_sigterm_kills_workers_and_kernels_and_removes_run_folders(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "sleeper").mkdir(parents=True)
    (subs / "sleeper" / "tiny.ipynb").write_text(json.dumps(_nb(square="import time\ntime.sleep(60)")))
    grader = _grader_cli(subs, out)
    assert _in_progress(out, "sleeper/tiny")
    time.sleep(1)   # the worker and its kernel are up
    grader.send_signal(signal.SIGTERM)
    assert grader.wait(timeout=30) == 128 + signal.SIGTERM
    assert not list(Path(tempfile.gettempdir()).glob(f"grade-{grader.pid}-*"))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                assert f"grade-{grader.pid}-" not in (entry / "cmdline").read_text(errors="replace")
            except OSError:
                pass
    entries = json.loads((out / "state.json").read_text())["entries"]
    assert ("sleeper/tiny" in entries) == (isolation.probe().mode == "none")   # jailed: graded next run
