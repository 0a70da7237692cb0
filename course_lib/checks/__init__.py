"""Behavioural checks that exercise cells call: one PASS/FAIL line per check, never the answer.

    from course_lib import checks
    checks.rotation_batch(rotate_batch)   # prints its checks, raises AssertionError if any failed
"""
from .contrastive import byol_loss, enqueue, momentum_update, nt_xent
from .pretext import knn_classifier, rotation_batch
from .report import Checker

__all__ = ["Checker", "knn_classifier", "rotation_batch", "nt_xent", "momentum_update", "enqueue", "byol_loss"]
