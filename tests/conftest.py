"""The whole suite: pctrules' cache (parser tables, built graphs) goes to a folder of this run."""

from __future__ import annotations

import os
import tempfile

# Set before any test imports pctrules, and inherited by the subprocesses tests start: the suite
# exercises the cache without reading or filling the user's own.
os.environ["PCTRULES_CACHE_DIR"] = tempfile.mkdtemp(prefix="pctrules-test-cache-")
