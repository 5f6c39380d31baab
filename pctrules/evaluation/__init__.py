"""Evaluation: compiled, traced, column and grouped evaluators over the organisation graph."""
