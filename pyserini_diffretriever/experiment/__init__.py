"""The whole DiffRetriever experiment on one BEIR-layout collection, as a paper table
(the library behind ``python -m pyserini_diffretriever.run``).

``pipeline``: :func:`run_experiment` and its :class:`ExperimentOptions`; ``report``: the table
and the plot.
"""
from .pipeline import ExperimentOptions, default_threads, run_experiment
from .report import MODES, table

__all__ = ["MODES", "ExperimentOptions", "default_threads", "run_experiment", "table"]
