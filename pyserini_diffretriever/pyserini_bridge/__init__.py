"""Everything that makes stock Pyserini work with this package, in one place."""
