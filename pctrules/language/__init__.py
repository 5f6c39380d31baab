"""The policy language: sources, YAML, loading, parsing, schemas and the checker."""
