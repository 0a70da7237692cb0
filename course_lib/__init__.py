"""course_lib: the small helper library behind the self-supervised learning course notebooks.

Start every notebook with ``run = course_lib.setup("NN_name")``; import the rest explicitly:
``from course_lib import data, training, evaluation, plotting``.
"""
from .runtime import Run, setup

__all__ = ["Run", "setup"]
__version__ = "0.1.0"
