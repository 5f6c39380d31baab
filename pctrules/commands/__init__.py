"""The CLI's commands, one module each; `pctrules.cli` gathers them into one click group."""
