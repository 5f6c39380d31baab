"""Batch evaluation: streaming files in and out, worker processes, reconciliation."""
