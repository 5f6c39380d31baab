"""Entry point for `python -m pctrules`."""

from pctrules.cli import main

main()
