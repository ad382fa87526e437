"""``python -m pyserini_diffretriever.verify DIR``: check an index folder against the
checksums recorded when it was written (the library is :mod:`pyserini_diffretriever.integrity`)."""
