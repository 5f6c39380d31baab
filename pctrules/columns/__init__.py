"""Columnar API: decide Arrow batches (and pandas frames) of cases; see decider.py."""

from pctrules.columns.decider import Decider
from pctrules.columns.pack import PackError

__all__ = ["Decider", "PackError"]
