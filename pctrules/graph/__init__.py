"""The organisation graph: an effective-dated model, how it is built, cached and imported."""
