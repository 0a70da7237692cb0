"""Behavioural checks that exercise cells call: one PASS/FAIL line per check, never the answer.

    from course_lib import checks
    checks.rotation_batch(rotate_batch)   # prints its checks, raises AssertionError if any failed
"""
from .pretext import knn_classifier, rotation_batch
from .report import Checker
from .word2vec import analogy_solver, negative_sampling_loss

__all__ = ["Checker", "knn_classifier", "rotation_batch"]
__all__ += ["analogy_solver", "negative_sampling_loss"]
