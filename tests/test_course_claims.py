"""benchmarks/course_claims.py: a notebook's time against its banner and its claims, judged at their scale."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import course_claims  # noqa: E402

_CODE = """import course_lib
from course_lib.claims import claim
run = course_lib.setup("00_tour")
claim("a ci lesson that holds", True, "1 > 0", relied_on=True)
claim("a ci lesson that fails", False, "0 > 1", relied_on=True)
claim("a laptop lesson", False, "small run", relied_on=True, scale="cpu")
claim("an aside", False)"""


def test_a_run_counts_relied_on_claims_at_the_profiles_scale(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_CODE),
                nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")]
    path = tmp_path / "00_tour.ipynb"
    nbformat.write(nb, path)
    result = course_claims.run_notebook(path, "ci", keep=tmp_path / "kept")
    assert result["error"] is None and result["banner_s"] > 0
    assert [(c["text"], c["holds"], c["scale"]) for c in result["claims"]] == [
        ("a ci lesson that holds", True, "ci"), ("a ci lesson that fails", False, "ci"),
        ("a laptop lesson", False, "cpu"), ("an aside", False, "ci")]
    kept = nbformat.read(tmp_path / "kept" / "00_tour.ipynb", as_version=4)   # with its figure, as students see it
    assert any("image/png" in out.get("data", {}) for out in kept.cells[1].outputs)
    ci = course_claims.summary("ci", {"00_tour": result})
    assert ci["relied_not_shown"] == 1 and ci["notebooks"]["00_tour"]["shown"] == 1   # the cpu claim waits for cpu
    assert ci["notebooks"]["00_tour"]["not_shown"] == ["a ci lesson that fails", "a laptop lesson", "an aside"]
    cpu = course_claims.summary("cpu", {"00_tour": {**result, "seconds": 1e6}})
    assert cpu["relied_not_shown"] == 2 and cpu["over_banner"] == ["00_tour"]
