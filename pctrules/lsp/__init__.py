"""The language server for policy bundles (`pctrules lsp`): diagnostics, hover, definition,
completion and quick fixes, over the checker the command line uses."""
