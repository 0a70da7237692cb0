"""course_lib: the small helper library behind the self-supervised learning course notebooks.

Start every notebook with ``run = course_lib.setup("NN_name")``; import the rest explicitly:
``from course_lib import data, training, evaluation, plotting``.

Importing course_lib sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is already set, before torch loads:
an OpenMP thread of torch's that has finished its share then sleeps instead of spinning, which on a
busy machine (other notebooks, a browser, CI neighbours) keeps torch's threads from stealing each
other's cores; results are the same, only the waiting changes (benchmarks/omp_wait.py measures it).
It takes effect only if course_lib is imported before torch, as every notebook does.
"""
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # read once, when torch's libgomp loads

from .runtime import Run, setup  # noqa: E402  (after the wait policy: runtime imports torch)

__all__ = ["Run", "setup"]
__version__ = "0.1.0"
