"""Adaptive K_q at search time: a predictor that picks each query's K_q before it is encoded,
and the query encoder behind ``kq: auto`` in an encoder configuration.

The predictor is a table over bins of the paper's query features (length in model tokens,
token entropy; :mod:`.features`): the bin edges are quantiles of the selection split, and
each bin holds the K_q with the best total measure of its selection queries at the selected
K_p (bins with fewer than ``min_queries`` queries keep the fixed K_q). Candidates (the fixed
K_q, length bins, entropy bins, both) are compared by cross-validation on the selection
split, and the winner is refitted on the whole split, so a predictor that does not beat the
fixed budget on held-out selection queries is the fixed budget.

A configuration with ``kq: auto`` reads its predictor from the JSON file beside it,
``<config stem>.kq-predictor.json`` (:func:`predictor_path`); the encoder factory then builds
an :class:`AdaptiveQueryEncoder`, so every command that encodes queries (search.faiss, run,
encode --topics, Pyserini's --encoder) uses it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import ConfigError
from .features import query_features, text_token_ids

FEATURES = ("length", "entropy")
PREDICTOR_SUFFIX = ".kq-predictor.json"


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


# ------------------------------------------------------------------ fitting
def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner edges at the 1/bins, 2/bins ... quantiles (duplicates removed)."""
    if bins < 2:
        return []
    edges = np.quantile(np.asarray(values, dtype=np.float64), np.arange(1, bins) / bins)
    return sorted(set(float(e) for e in edges))


def fit_bins(columns: dict[str, np.ndarray], values: np.ndarray, kqs: Sequence[int], default_index: int,
             features: Sequence[str], bins: int, min_queries: int = 5) -> KqPredictor:
    """A table predictor on ``features`` with ``bins`` quantile bins each, fitted to per-query
    measures ``values [queries, len(kqs)]``."""
    values = np.asarray(values, dtype=np.float64)
    edges = [quantile_edges(columns[f], bins) for f in features]
    shape = tuple(len(e) + 1 for e in edges)
    default = int(kqs[default_index])
    if not features:
        return KqPredictor([], [], default, default)
    index = tuple(np.searchsorted(np.asarray(e), columns[f], side="right") for f, e in zip(features, edges))
    flat = np.ravel_multi_index(index, shape)
    table = np.full(int(np.prod(shape)), default, dtype=np.int64)
    for cell in range(len(table)):
        members = flat == cell
        if members.sum() < min_queries:
            continue
        totals = values[members].sum(axis=0)
        best = totals.max()
        # the fixed K_q when it is among the best, else the smallest best K_q
        table[cell] = default if totals[default_index] == best else int(kqs[int(np.argmax(totals == best))])
    return KqPredictor(list(features), edges, table.reshape(shape).tolist(), default)


CANDIDATES = ((), ("length",), ("entropy",), ("length", "entropy"))


def fit_predictor(lengths: np.ndarray, entropies: np.ndarray, values: np.ndarray, kqs: Sequence[int],
                  default_index: int, folds: int = 5, min_queries: int = 5,
                  bin_counts: Sequence[int] = (2, 3, 4)) -> KqPredictor:
    """Choose among the fixed K_q and the feature-bin predictors by ``folds``-fold
    cross-validation on these (selection) queries, then refit the winner on all of them.

    ``values [queries, len(kqs)]``: each query's measure at each K_q (selected K_p). Folds
    are query positions modulo ``folds``. ``info`` of the result records every candidate's
    cross-validated mean."""
    values = np.asarray(values, dtype=np.float64)
    columns = {"length": np.asarray(lengths, dtype=np.float64), "entropy": np.asarray(entropies, dtype=np.float64)}
    n = len(values)
    fold = np.arange(n) % folds
    kq_index = {k: i for i, k in enumerate(kqs)}
    scores = {}
    for features in CANDIDATES:
        for bins in (bin_counts if features else (1,)):
            if len(features) == 2 and bins > 3:
                continue  # 16 cells are too many for a few hundred queries
            total = 0.0
            for f in range(folds):
                train, test = fold != f, fold == f
                if not test.any() or not train.any():
                    continue
                model = fit_bins({k: v[train] for k, v in columns.items()}, values[train], kqs, default_index,
                                 features, bins, min_queries)
                chosen = model.predict_features(columns["length"][test], columns["entropy"][test])
                total += values[test][np.arange(int(test.sum())), [kq_index[k] for k in chosen]].sum()
            scores[(features, bins)] = total / n
    fixed = scores[((), 1)]
    (features, bins), best = max(scores.items(), key=lambda item: item[1])
    if best <= fixed:
        features, bins = (), 1
    model = fit_bins(columns, values, kqs, default_index, features, bins, min_queries)
    model.info = {"cross_validation": {("+".join(f) or "fixed") + (f"/{b}" if f else ""): round(s, 6)
                                       for (f, b), s in scores.items()},
                  "chosen": ("+".join(features) or "fixed") + (f"/{bins}" if features else ""),
                  "folds": folds, "min_queries": min_queries, "queries": n}
    return model


# ----------------------------------------------------------------- encoder
def predictor_path(config) -> Path:
    """``<config stem>.kq-predictor.json`` beside the configuration file."""
    source = Path(config.source)
    if config.source.startswith("<"):
        raise ConfigError("kq: auto needs a configuration read from a file (its predictor lies beside it)")
    return source.with_name(source.stem + PREDICTOR_SUFFIX)


class AdaptiveQueryEncoder:
    """The encoder of a ``kq: auto`` configuration: each query is encoded with the K_q its
    predictor picks from the query's own tokens; passages with the configuration's K_p.

    Same public surface as :class:`~pyserini_diffretriever.encode.encoder.DiffRetrieverEncoder`
    (``encode``, ``config``, ``kq``, ``kp``, ``dimension``, ``backbone``). ``last_kq`` holds the
    K_q of each query of the last ``encode(..., is_query=True)`` call."""

    has_sparse = True

    def __init__(self, config, backbone=None, predictor: KqPredictor | None = None) -> None:
        from ..backbones import load_backbone
        from ..encode.encoder import DiffRetrieverEncoder

        if config.method != "diffretriever":
            raise ConfigError(f"encoder config {config.source}: kq: auto applies to method diffretriever, not {config.method}")
        self.config = config
        self.predictor = predictor or KqPredictor.load(predictor_path(config))
        self.backbone = backbone if backbone is not None else load_backbone(
            config.backbone, config.checkpoint, device=config.device, dtype=config.dtype)
        self._encoders = {k: DiffRetrieverEncoder(config.replace(kq=k), backbone=self.backbone)
                          for k in self.predictor.choices}
        self.last_kq: list[int] = []

    @property
    def kq(self) -> str:
        return "auto"

    @property
    def kp(self) -> int:
        return self.config.kp

    @property
    def dimension(self) -> int:
        return self.backbone.hidden_size

    def encoder_for(self, kq: int):
        return self._encoders[kq]

    def builder(self, is_query: bool):
        return self._encoders[self.predictor.default].builder(is_query)

    def choose(self, texts: Sequence[str]) -> list[int]:
        """The K_q the predictor picks for each query text."""
        return self.predictor.predict_ids(text_token_ids(self, list(texts)))

    def encode(self, texts, is_query: bool = False, batch_size: int | None = None):
        from ..encode.encoder import EncoderOutput

        if isinstance(texts, (str, bytes)):
            raise TypeError("encode() takes a list of texts, not a single string")
        texts = list(texts)
        if not is_query:
            return self._encoders[self.predictor.default].encode(texts, False, batch_size)
        chosen = self.choose(texts)
        out = EncoderOutput(dense=[None] * len(texts), sparse=[None] * len(texts))
        for k in sorted(set(chosen)):
            where = [i for i, c in enumerate(chosen) if c == k]
            part = self._encoders[k].encode([texts[i] for i in where], True, batch_size)
            for i, dense, sparse in zip(where, part.dense, part.sparse):
                out.dense[i], out.sparse[i] = dense, sparse
        self.last_kq = chosen
        return out
