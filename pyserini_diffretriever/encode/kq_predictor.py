"""The K_q predictor of ``kq: auto``: each query's K_q picked, before it is encoded, from
two features of the query's own tokens (paper section 6.3):

- length: the number of model tokens of the query text as the encoder reads it (the
  tokenizer's ids of the text, truncated to the query budget, no prompt, masks or specials);
- entropy: the Shannon entropy, in bits, of the distribution of those token ids within the
  query (``-sum p log2 p`` over the distinct ids; 0 for one repeated token or an empty text).

:class:`KqPredictor` is a table over bins of these features, read from the JSON file beside
a ``kq: auto`` configuration (:func:`predictor_path`); it is fitted by
:func:`pyserini_diffretriever.analysis.adaptive.fit_predictor` (``python -m
pyserini_diffretriever.sweep --write-config``). No torch here: the analysis reads the same
features and files.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import ConfigError

FEATURES = ("length", "entropy")
PREDICTOR_SUFFIX = ".kq-predictor.json"


def token_entropy(ids: Sequence[int]) -> float:
    """Shannon entropy (bits) of the empirical distribution of ``ids``."""
    if len(ids) == 0:
        return 0.0
    counts = Counter(ids)
    total = len(ids)
    return float(-sum(c / total * math.log2(c / total) for c in counts.values()))


def query_features(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, entropies) of tokenized queries."""
    return (np.array([len(t) for t in token_ids], dtype=np.float64),
            np.array([token_entropy(t) for t in token_ids], dtype=np.float64))


def text_token_ids(encoder, texts: Sequence[str]) -> list[list[int]]:
    """The token ids of each query text as ``encoder`` reads it (its query-side sequence builder)."""
    builder = encoder.builder(True)
    return [builder.text_ids(t) for t in texts]


@dataclass
class KqPredictor:
    """K_q per query from binned features.

    ``features``: the feature names used (a subset of :data:`FEATURES`, in that order);
    ``edges``: per feature, the inner bin edges (a value v falls in bin
    ``searchsorted(edges, v, side="right")``); ``table``: K_q per bin, a nested list indexed
    by the bins of the features in order (a scalar when no feature is used); ``default``: the
    fixed K_q it falls back on."""

    features: list[str]
    edges: list[list[float]]
    table: object
    default: int
    info: dict = field(default_factory=dict)

    @property
    def choices(self) -> list[int]:
        return sorted(set(np.asarray(self.table, dtype=np.int64).reshape(-1).tolist()) | {self.default})

    def predict_features(self, lengths: Sequence[float], entropies: Sequence[float]) -> list[int]:
        columns = {"length": np.asarray(lengths, dtype=np.float64), "entropy": np.asarray(entropies, dtype=np.float64)}
        table = np.asarray(self.table, dtype=np.int64)
        if not self.features:
            return [int(table)] * len(columns["length"])
        index = tuple(np.searchsorted(np.asarray(e, dtype=np.float64), columns[f], side="right")
                      for f, e in zip(self.features, self.edges))
        return [int(k) for k in table[index]]

    def predict_ids(self, token_ids: Sequence[Sequence[int]]) -> list[int]:
        return self.predict_features(*query_features(token_ids))

    # --------------------------------------------------------------- files
    def to_json(self) -> dict:
        return {"format": "diffretriever-kq-predictor/1", "features": self.features, "edges": self.edges,
                "table": np.asarray(self.table).tolist(), "default": self.default, "info": self.info}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "KqPredictor":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"kq: auto needs the predictor file {path} (written by python -m pyserini_diffretriever.sweep "
                              f"--write-config); it does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            features, edges, table, default = data["features"], data["edges"], data["table"], int(data["default"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}: not a K_q predictor file ({err})") from None
        bad = [f for f in features if f not in FEATURES]
        if bad or len(edges) != len(features):
            raise ConfigError(f"{path}: features must be among {', '.join(FEATURES)} with one edge list each")
        shape = np.asarray(table).shape
        if shape != tuple(len(e) + 1 for e in edges) or np.any(np.asarray(table) < 1):
            raise ConfigError(f"{path}: table of shape {shape} does not match edges {[len(e) for e in edges]} "
                              f"(or holds a K_q below 1)")
        return cls(list(features), [list(map(float, e)) for e in edges], table, default, data.get("info", {}))


def predictor_path(config) -> Path:
    """``<config stem>.kq-predictor.json`` beside the configuration file."""
    source = Path(config.source)
    if config.source.startswith("<"):
        raise ConfigError("kq: auto needs a configuration read from a file (its predictor lies beside it)")
    return source.with_name(source.stem + PREDICTOR_SUFFIX)


__all__ = ["FEATURES", "PREDICTOR_SUFFIX", "KqPredictor", "predictor_path", "query_features", "text_token_ids",
           "token_entropy"]
