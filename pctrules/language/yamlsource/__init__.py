"""The YAML layer of the language: bounded reading with exact positions, and structural checks."""
