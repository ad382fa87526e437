"""Exports of encoded corpora to other engines and runtimes (one subpackage each)."""
