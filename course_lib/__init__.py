"""course_lib: the small helper library behind the self-supervised learning course notebooks.

Start every notebook with ``run = course_lib.setup("NN_name")``; import the rest explicitly:
``from course_lib import data, training, evaluation, plotting``.

Importing course_lib sets ``GOMP_SPINCOUNT=10000`` unless ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is
already set, before torch loads: an OpenMP thread of torch's that has finished its share spins for about
10,000 iterations before it sleeps, instead of libgomp's 300,000. Spinning makes the small operations of
the course's networks fast on an idle machine (sleeping at once, OMP_WAIT_POLICY=PASSIVE, made notebook
09's training twice as slow), and a short spin keeps torch's threads from stealing each other's cores for
long on a busy one (other notebooks, a browser, CI neighbours). Results are the same, only the waiting
changes (benchmarks/omp_wait.py measures all three). It takes effect only if course_lib is imported
before torch, as every notebook does.
"""
import os as _os

if "OMP_WAIT_POLICY" not in _os.environ:   # read once, when torch's libgomp loads
    _os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from .runtime import Run, setup  # noqa: E402  (after the spin count: runtime imports torch)

__all__ = ["Run", "setup"]
__version__ = "0.1.0"
