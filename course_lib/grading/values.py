"""Verdicts outside the student's process: a test hands its `got*` values over, the grader compares.

The convention (solutions/README.md): inside a test cell, the top-level statements up to the last
one that assigns a name `got` or `got_<something>` compute the student's outputs on fixed inputs;
everything after it (expected values, asserts) checks them. When grading, the student's kernel
runs only the computing part, with every `assert` removed, and reports the got* values; the grader
compares them, in its own process, with the values the same cell produced in a trusted run of the
solution notebook. Under nbgrader the cell is plain Python whose asserts decide, as before.
A test cell without got* names is decided by the kernel (it ran to its end without an error),
which code in the student's process can fake: the grader says so at start-up.
"""
from __future__ import annotations

import ast
import json
import math
import re

MIME = "application/vnd.course-grader.values+json"
KERNEL_VERDICT = re.compile(r"#\s*grader:\s*kernel[- ]verdict")   # opt-in: a plain-assert test, decided in the kernel
GOT = re.compile(r"^got(_\w+)?$")
TOLERANCE = re.compile(r"#\s*grader:\s*rtol\s*=\s*([0-9.eE+-]+)(?:\s+atol\s*=\s*([0-9.eE+-]+))?")
RTOL, ATOL = 1e-4, 1e-5
MAX_ELEMENTS = 100_000   # larger arrays are reported as a summary (sums and the first 1000 values)
MAX_REPORT = 4_000_000   # characters of JSON a kernel may report per test

# Runs in the kernel after the computing part; it only reports, so patching it gains nothing.
_REPORT = '''
def _grader_report(names, nonce, ns):
    import math as _m
    def enc(v, depth=0):
        if depth > 30:
            raise ValueError("nested too deep")
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, float):
            return v if _m.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, (list, tuple)):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {"__dict__": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if type(v).__module__ == "numpy" and hasattr(v, "item") and getattr(v, "shape", None) == ():
            return enc(v.item(), depth + 1)
        if hasattr(v, "shape") and hasattr(v, "dtype") and hasattr(v, "tolist"):
            t = v.detach().cpu() if hasattr(v, "detach") else v
            dtype = str(t.dtype).replace("torch.", "")
            flat = t.reshape(-1)
            n = int(flat.shape[0])
            out = {"__array__": dtype, "shape": [int(s) for s in t.shape]}
            if n > %(max)d:
                f = flat.double() if hasattr(flat, "double") else flat.astype("float64")
                out["summary"] = [float(f.sum()), float(abs(f).sum()), float((f * f).sum())]
                flat = flat[:1000]
            out["data"] = [enc(x) for x in flat.tolist()]
            return out
        return {"__type__": type(v).__qualname__}
    import json as _j
    vals = {}
    for name in names:
        vals[name] = enc(ns[name]) if name in ns else {"__missing__": True}
    from IPython.display import publish_display_data as _p
    _p({"%(mime)s": {"nonce": nonce, "values": _j.dumps(vals)}})
'''.replace("%(max)d", str(MAX_ELEMENTS)).replace("%(mime)s", MIME)

TRAILER = ('\n(lambda g: (exec(compile({src!r}, "<grader>", "exec"), g), '
           'g["_grader_report"]({names!r}, "{nonce}", globals())))({{}})\n')


class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.AST:  # noqa: N802 - ast API
        return ast.copy_location(ast.Pass(), node)


def _stores(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _touches_got(stmt: ast.stmt) -> bool:
    """The statement assigns a got* name, or changes one (`got.append(...)`, `got[i] = ...`)."""
    if isinstance(stmt, ast.Assert):
        return False
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and GOT.match(n.id):
            return True
        if isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.value, ast.Name) \
                and GOT.match(n.value.id) and (isinstance(n.ctx, ast.Store) or isinstance(n, ast.Attribute)):
            return True
    return False


def got_names(code: str) -> list[str]:
    """The got* names a test cell assigns at top level or in loops ([] if none or unparsable)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names: list[str] = []
    for stmt in tree.body:
        names += sorted(n for n in _stores(stmt) if GOT.match(n) and n not in names)
    return names


def split_test(code: str) -> tuple[str, list[str]] | None:
    """(the computing part, asserts removed; the got* names), or None: decided by the kernel."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    last = max((i for i, s in enumerate(tree.body) if _touches_got(s)), default=-1)
    if last < 0:
        return None
    body = [s for s in tree.body[:last + 1] if not isinstance(s, ast.Assert)]
    part = _NoAsserts().visit(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(ast.fix_missing_locations(part)), got_names(code)


def unverified(cells: list[tuple[str | None, str]]) -> list[str]:
    """grade_ids of test cells (given as (grade_id, source)) that hand no got* values to the grader and
    do not opt in to a verdict decided in the student's kernel (`# grader: kernel-verdict`)."""
    return [str(gid) for gid, code in cells if split_test(code) is None and not KERNEL_VERDICT.search(code)]


def report_code(names: list[str], nonce: str) -> str:
    """Code appended to a test cell: publish the got* values (and the nonce) to the grader."""
    return TRAILER.format(src=_REPORT, names=names, nonce=nonce)


def tolerance(code: str) -> tuple[float, float]:
    """(rtol, atol) for a cell: defaults, or a `# grader: rtol=1e-3 atol=1e-4` comment."""
    m = TOLERANCE.search(code)
    if not m:
        return RTOL, ATOL
    return float(m.group(1)), float(m.group(2)) if m.group(2) else ATOL


def parse_report(text: str) -> dict | None:
    """The values a kernel reported (untrusted JSON, size-bounded), or None if unusable."""
    if not isinstance(text, str) or len(text) > MAX_REPORT:
        return None
    try:
        vals = json.loads(text)
    except ValueError:
        return None
    return vals if isinstance(vals, dict) else None


_FLOATS = ("float", "bfloat", "half", "double")
_INTS = ("int", "uint", "long", "short", "byte")


def _kind(dtype: str) -> str:
    d = str(dtype).lower()
    if d.startswith("bool"):
        return "bool"
    if d.startswith(_FLOATS):
        return "float"
    if d.startswith(_INTS):
        return "int"
    return d


def _number(x: object) -> int | float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, dict) and isinstance(x.get("__float__"), str):
        try:
            return float(x["__float__"])
        except ValueError:
            return None
    return None


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(a)


def differ(expected: object, got: object, rtol: float = RTOL, atol: float = ATOL, depth: int = 0) -> str | None:
    """None if got matches the trusted value, else a short reason (which never shows the value)."""
    if depth > 40:
        return "nested too deep"
    a, b = _number(expected), _number(got)
    if a is not None or b is not None:
        if a is None or b is None:
            return "not a number" if b is None else "a number where something else was expected"
        if isinstance(a, int):   # integers exactly (a float that equals one, say 4.0, still does)
            return None if b == a else "a different number"
        return None if _close(a, b, rtol, atol) else "a different number"
    if isinstance(expected, dict) and "__array__" in expected:
        if not (isinstance(got, dict) and "__array__" in got):
            return "not an array"
        if got.get("shape") != expected.get("shape"):
            return "an array of another shape"
        if _kind(got["__array__"]) != _kind(expected["__array__"]):
            return f"an array of another kind ({got['__array__']})"
        for key in ("summary", "data"):
            why = differ(expected.get(key), got.get(key), rtol, atol, depth + 1)
            if why:
                return "different array values"
        return None
    if isinstance(expected, dict):
        if "__type__" in expected or "__missing__" in expected:
            return "the reference value cannot be compared (fix the solution's got* value)"
        if not isinstance(got, dict) or set(got) != set(expected):
            return "a different kind of value"
        return differ(expected.get("__dict__"), got.get("__dict__"), rtol, atol, depth + 1)
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return "a sequence of another length" if isinstance(got, list) else "not a sequence"
        for e, g in zip(expected, got):
            why = differ(e, g, rtol, atol, depth + 1)
            if why:
                return why
        return None
    if type(expected) is not type(got) or expected != got:
        return "a different value"
    return None


def verdict(trusted: dict | None, reported: dict | None, names: list[str], rtol: float, atol: float) -> str | None:
    """None if every got* value matches the trusted run; else why not (for feedback)."""
    if trusted is None:
        return "the reference run of the solution did not produce this test's values"
    if reported is None:
        return "the test did not hand its values to the grader (it did not run to its end)"
    for name in names:
        if name not in reported:
            return f"`{name}` was not reported"
        why = differ(trusted.get(name), reported.get(name), rtol, atol)
        if why:
            return f"`{name}` differs from the reference solution's: {why}"
    return None
