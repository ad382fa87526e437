"""The whole budget analysis on one collection: grid, selection, oracles, correlations,
adaptive K_q, per-passage K_p, figures and reports (``python -m pyserini_diffretriever.sweep``)."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from ..config import load_config, resolve_config_path
from ..corpus import read_documents
from ..dense.store import DenseStore
from ..encode.factory import build_encoder
from ..encode.kq_predictor import PREDICTOR_SUFFIX, query_features, text_token_ids
from . import plots
from .adaptive import fit_predictor
from .cache import EncodingCache
from .features import correlation
from .oracle import oracles, select_cell
from .passage_kp import assign_kp, mix, passage_lengths, storage, write_mixed_store
from .scoring import MODES, Documents, SparseIndex, cell_hits, mean_over, measures_from_hits
from .splits import check_disjoint, load_split

LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank": "MRR@10"}
TOKENS_PER_VECTOR = (2, 4, 8, 16, 32, 64)


@dataclass
class SweepOptions:
    collection: str
    encoder: str = "diffretriever-default"
    kqs: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    kps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    select_split: str = "train"
    report_split: str = "test"
    output_dir: str | None = None
    cache_dir: str | None = None
    metric: str = "ndcg_cut_10"
    hits: int = 1000
    alpha: float = 0.5
    remove_query: bool = True
    batch_size: int = 32
    checkpoint: str | None = None
    device: str | None = None
    folds: int = 5
    min_queries: int = 5
    kp_tolerance: float = 0.005
    tokens_per_vector: list[float] = field(default_factory=lambda: list(TOKENS_PER_VECTOR))
    write_config: str | None = None
    auto_mode: str = "hybrid"
    passage_kp: bool = True
    plots: bool = True


def _check(options: SweepOptions) -> None:
    for name in ("kqs", "kps"):
        values = getattr(options, name)
        if not values or any(k < 1 for k in values) or len(set(values)) != len(values):
            raise ValueError(f"--{name[:-1]}: expected distinct positive integers, got {values}")
    if options.auto_mode not in MODES:
        raise ValueError(f"--auto-mode {options.auto_mode!r} is not one of {', '.join(MODES)}")


def run_sweep(options: SweepOptions) -> dict:
    """Run the analysis; write JSON, a Markdown table and PNGs to the output folder; return the report."""
    started = time.time()
    _check(options)
    kqs, kps = sorted(options.kqs), sorted(options.kps)
    collection = Path(options.collection)
    name = collection.resolve().name
    config = load_config(options.encoder, checkpoint=options.checkpoint, device=options.device)
    out = Path(options.output_dir or Path("runs") / "sweep" / name / config.name)
    out.mkdir(parents=True, exist_ok=True)
    cache = EncodingCache(options.cache_dir or Path("indexes") / "sweep" / f"{name}-{config.name}", config,
                          collection / "corpus.jsonl", options.batch_size)

    select_topics, select_qrels = load_split(collection, options.select_split)
    report_topics, report_qrels = load_split(collection, options.report_split)
    check_disjoint(select_topics, report_topics, options.select_split, options.report_split)
    topics = {**select_topics, **report_topics}
    qrels = {**select_qrels, **report_qrels}
    qids = list(topics)
    sel_rows = np.array([q in select_topics for q in qids])
    rep_rows = ~sel_rows
    print(f"{name}: select on {options.select_split} ({len(select_topics)} queries), report on "
          f"{options.report_split} ({len(report_topics)}); grid K_q {kqs} x K_p {kps}; encoder {config.name}")

    # 1. encodings (once per K), 2. every cell
    corpora = {}
    for kp in kps:
        print(f"== corpus K_p = {kp}")
        corpora[kp] = cache.corpus(kp)
    query_enc = {kq: cache.queries(kq, topics) for kq in kqs}
    settings = {"hits": options.hits, "alpha": options.alpha, "remove_query": options.remove_query,
                "metric": options.metric, "select": options.select_split, "report": options.report_split}
    cells_dir = cache.root / "cells" / hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    cells_dir.mkdir(parents=True, exist_ok=True)
    (cells_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    values = {m: np.zeros((len(qids), len(kqs), len(kps))) for m in MODES}
    summary = {split: {m: [[None] * len(kps) for _ in kqs] for m in MODES} for split in ("select", "report")}
    docs = Documents(corpora[kps[0]].docids)
    sparse_indexes: dict[int, SparseIndex] = {}
    for i, kq in enumerate(tqdm(kqs, desc="grid rows (K_q)", unit="row")):
        for j, kp in enumerate(kps):
            path = cells_dir / f"kq-{kq}_kp-{kp}.json"
            if not path.is_file() and kp not in sparse_indexes:
                sparse_indexes[kp] = SparseIndex(corpora[kp].sparse)
            cell = _cell(path, docs, corpora[kp].store.vectors, corpora[kp].store.offsets, corpora[kp].sparse,
                         query_enc[kq], qids, qrels, select_qrels, report_qrels, options, sparse_indexes.get(kp))
            for m in MODES:
                values[m][:, i, j] = [cell["per_query"][m][q] for q in qids]
                summary["select"][m][i][j] = cell["select"][m]
                summary["report"][m][i][j] = cell["report"][m]
    metric = options.metric

    def grid_mean(split: str, m: str) -> np.ndarray:
        return np.array([[summary[split][m][i][j][metric] for j in range(len(kps))] for i in range(len(kqs))])

    # 3. selection, oracles, correlations, adaptive K_q
    report: dict = {"collection": str(collection), "encoder": config.name, "metric": metric, "kqs": kqs, "kps": kps,
                    "select_split": options.select_split, "report_split": options.report_split,
                    "queries": {"select": int(sel_rows.sum()), "report": int(rep_rows.sum())},
                    "documents": len(corpora[kps[0]].docids), "settings": settings, "modes": {}}
    features_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for m in MODES:
        sel_grid, rep_grid = grid_mean("select", m), grid_mean("report", m)
        i, j = select_cell(sel_grid)
        bi, bj = select_cell(rep_grid)
        entry = {
            "grid": {"select": sel_grid.round(6).tolist(), "report": rep_grid.round(6).tolist()},
            "selected": {"kq": kqs[i], "kp": kps[j], "select": summary["select"][m][i][j],
                         "report": summary["report"][m][i][j]},
            "best_on_report": {"kq": kqs[bi], "kp": kps[bj], metric: float(rep_grid[bi, bj])},
        }
        lengths, entropies = features_cache.get(kqs[i]) or features_cache.setdefault(
            kqs[i], _features(cache, config.replace(kq=kqs[i]), [topics[q] for q in qids]))
        entry["oracles"] = {}
        entry["correlations"] = {}
        for split, rows in (("report", rep_rows), ("select", sel_rows)):
            o = oracles(values[m][rows], (i, j))
            entry["oracles"][split] = {k: round(float(v), 6) for k, v in o.items() if np.isscalar(v)}
            entry["oracles"][split]["kq_choice_counts"] = _counts(np.array(kqs)[o["kq_choice"]], kqs)
            entry["oracles"][split]["kp_choice_counts"] = _counts(np.array(kps)[o["kp_choice"]], kps)
            varies = o["kq_varies"]
            oracle_kq = np.array(kqs)[o["kq_choice"]]
            entry["correlations"][split] = {
                "queries_whose_measure_varies_with_kq": int(varies.sum()),
                "length": correlation(lengths[rows][varies], oracle_kq[varies]),
                "entropy": correlation(entropies[rows][varies], oracle_kq[varies]),
            }
            if split == "report":
                report_oracle = (o, oracle_kq, varies)
        predictor = fit_predictor(lengths[sel_rows], entropies[sel_rows], values[m][sel_rows][:, :, j], kqs, i,
                                  options.folds, options.min_queries)
        chosen = predictor.predict_features(lengths[rep_rows], entropies[rep_rows])
        index = {k: n for n, k in enumerate(kqs)}
        adaptive = values[m][rep_rows][np.arange(int(rep_rows.sum())), [index[k] for k in chosen], j]
        entry["adaptive_kq"] = {
            "kp": kps[j], "predictor": predictor.to_json(),
            "report": {"fixed": round(float(values[m][rep_rows][:, i, j].mean()), 6),
                       "adaptive": round(float(adaptive.mean()), 6),
                       "oracle": round(float(report_oracle[0]["kq_oracle"]), 6),
                       "chosen_counts": _counts(np.array(chosen), kqs)},
        }
        entry["_predictor"] = predictor
        report["modes"][m] = entry
        if options.plots:
            plots.heatmap({f"select: {options.select_split}": sel_grid, f"report: {options.report_split}": rep_grid},
                          kqs, kps, (i, j), f"{name}, {config.name}, {m}: {LABELS.get(metric, metric)} "
                          f"(selected K_q={kqs[i]}, K_p={kps[j]})", LABELS.get(metric, metric), out / f"heatmap_{m}.png")
            o, oracle_kq, varies = report_oracle
            plots.correlation_plot(oracle_kq[varies], lengths[rep_rows][varies], entropies[rep_rows][varies], kqs,
                                   entry["correlations"]["report"], f"{name} ({options.report_split}), {m}: oracle "
                                   f"K_q at K_p={kps[j]}", out / f"correlation_{m}.png")
    if options.plots:
        plots.oracle_bars({m: report["modes"][m]["oracles"]["report"] for m in MODES},
                          f"{name} ({options.report_split}): per-query oracles over the grid", LABELS.get(metric, metric),
                          out / "oracles.png")

    # 4. per-passage K_p
    if options.passage_kp:
        report["per_passage_kp"] = _per_passage(cache, config, corpora, query_enc, kqs, kps, qids, qrels, select_qrels,
                                                report_qrels, report, options, out, name)
    # 5. kq: auto configuration beside its predictor, checked by encoding the report queries with it
    if options.write_config:
        report["auto_config"] = write_auto_config(options, config, report["modes"][options.auto_mode],
                                                  cache, report_topics)
    for m in MODES:
        report["modes"][m].pop("_predictor")
    report["encoded_this_run"] = {"texts": cache.encoded_texts, **cache.encoded, "model_loaded": cache.model_loaded}
    report["wall_seconds"] = round(time.time() - started, 1)
    (out / "sweep.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "sweep.md").write_text(markdown(report) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"\nsweep.json, sweep.md and the figures in {out}; {cache.encoded_texts} texts encoded in this run")
    return report


def _counts(values: np.ndarray, keys) -> dict:
    return {str(k): int(np.sum(values == k)) for k in keys}


def _features(cache: EncodingCache, config, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    path = cache.root / "queries" / f"features-kq-{config.kq}.json"
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()
    if path.is_file():
        data = json.loads(path.read_text())
        if data.get("key") == key:
            return np.array(data["lengths"]), np.array(data["entropies"])
    lengths, entropies = query_features(text_token_ids(build_encoder(config, backbone=cache.backbone), texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "lengths": lengths.tolist(), "entropies": entropies.tolist()}))
    return lengths, entropies


def _cell(path: Path | None, docs: Documents, vectors, offsets, doc_sparse, queries, qids, qrels, select_qrels,
          report_qrels, options: SweepOptions, sparse_index: SparseIndex | None = None, modes=MODES, found=None) -> dict:
    """Per-query measures and split summaries of one cell (cached in ``path`` when given)."""
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    if found is None:
        found = cell_hits(vectors, offsets, docs.docids, doc_sparse, qids, queries.dense, queries.sparse, options.hits,
                          options.alpha, options.remove_query, modes, sparse_index, docs)
    cell: dict = {"per_query": {}, "select": {}, "report": {}}
    for m in modes:
        values = measures_from_hits(found[m], qids, docs, qrels)
        cell["per_query"][m] = values[options.metric]
        cell["select"][m] = mean_over(values, select_qrels)
        cell["report"][m] = mean_over(values, report_qrels)
    if path is not None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(cell))
        tmp.replace(path)
    return cell


def _per_passage(cache, config, corpora, query_enc, kqs, kps, qids, qrels, select_qrels, report_qrels, report,
                 options, out, name) -> dict:
    lengths_path = cache.root / "corpus" / "passage-lengths.json"
    if lengths_path.is_file():
        passage_tokens = np.array(json.loads(lengths_path.read_text()))
    else:
        texts = {d.docid: d.text for d in read_documents(cache.corpus_path)}
        encoder = build_encoder(config.replace(kp=max(kps)), backbone=cache.backbone)
        passage_tokens = passage_lengths(encoder, [texts[d] for d in corpora[kps[0]].docids])
        lengths_path.write_text(json.dumps(passage_tokens.tolist()))
    result = {"rule": "K_p(p) = smallest grid K_p >= ceil(tokens(p) / r), at most the selected K_p",
              "passage_tokens": {"mean": float(passage_tokens.mean()), "median": float(np.median(passage_tokens)),
                                 "max": int(passage_tokens.max())},
              "tolerance": options.kp_tolerance, "modes": {}}
    metric = options.metric
    dim = corpora[kps[0]].store.dim
    docs = Documents(corpora[kps[0]].docids)
    found_cache: dict = {}
    for m in MODES:
        sel = report["modes"][m]["selected"]
        kq, kp = sel["kq"], sel["kp"]
        allowed = [k for k in kps if k <= kp]
        for key in [key for key in found_cache if key[0] != kq]:  # bounded memory: one K_q at a time
            del found_cache[key]
        fixed_store = corpora[kp].store
        fixed = {"kp": kp, **storage(fixed_store.lengths(), corpora[kp].sparse, dim),
                 "select": sel["select"][metric], "report": sel["report"][metric]}
        rows = []
        for r in options.tokens_per_vector:
            kp_of = assign_kp(passage_tokens, allowed, r)
            vectors, lengths, docids, sparse = mix({k: corpora[k] for k in allowed}, kp_of)
            key = (kq, tuple(kp_of.tolist()))
            if key not in found_cache:  # the same assignment at the same K_q serves every mode
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
                found_cache[key] = cell_hits(vectors, offsets, docs.docids, sparse, qids, query_enc[kq].dense,
                                             query_enc[kq].sparse, options.hits, options.alpha, options.remove_query,
                                             MODES, None, docs)
            cell = _cell(None, docs, None, None, None, None, qids, qrels, select_qrels, report_qrels, options,
                         modes=(m,), found=found_cache[key])
            rows.append({"tokens_per_vector": r, **storage(lengths, sparse, dim),
                         "kp_counts": _counts(kp_of, allowed),
                         "select": round(cell["select"][m][metric], 6), "report": round(cell["report"][m][metric], 6)})
        ok = [row for row in rows if row["select"] >= fixed["select"] - options.kp_tolerance]
        key = "postings" if m == "sparse" else "vectors"
        chosen = min(ok, key=lambda row: (row[key], -row["select"])) if ok else None
        entry = {"fixed": fixed, "rules": rows, "chosen": chosen, "storage_measure": key}
        if chosen is not None:
            entry["saving"] = round(1 - chosen[key] / fixed[key], 4)
            entry["cost_on_report"] = round(fixed["report"] - chosen["report"], 6)
            if m != "sparse":  # the chosen per-passage store, written and searched from disk
                kp_of = assign_kp(passage_tokens, allowed, chosen["tokens_per_vector"])
                vectors, lengths, docids, sparse = mix({k: corpora[k] for k in allowed}, kp_of)
                root = write_mixed_store(cache.root / "corpus" / f"per-passage-{m}", vectors, lengths, docids,
                                         dict(fixed_store.meta, rule=result["rule"],
                                              tokens_per_vector=chosen["tokens_per_vector"]))
                store = DenseStore.open(root)
                check = _cell(None, docs, store.vectors, store.offsets, sparse, query_enc[kq], qids, qrels, select_qrels,
                              report_qrels, options, modes=MODES if m == "hybrid" else (m,))
                entry["store"] = {"path": str(root), "report_from_disk": round(check["report"][m][metric], 6)}
        result["modes"][m] = entry
        if options.plots:
            plots.tradeoff_plot(rows, fixed, f"{name} ({options.report_split}), {m}: per-passage K_p at K_q={kq}",
                                LABELS.get(metric, metric), out / f"passage_kp_{m}.png")
    return result


def write_auto_config(options: SweepOptions, config, entry: dict, cache: EncodingCache, report_topics: dict) -> dict:
    """Write a ``kq: auto`` YAML (the base config with the selected K_p) and its predictor
    beside it; then load it through the encoder factory and check that it encodes each report
    query with the K_q its predictor chose, identically to the fixed-K_q encoding."""
    path = Path(options.write_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(resolve_config_path(options.encoder).read_text(encoding="utf-8")) or {}
    if not str(data.get("checkpoint", "")).startswith("package:"):
        data["checkpoint"] = str(Path(config.checkpoint).resolve()) if Path(config.checkpoint).exists() else config.checkpoint
    data.update(name=path.stem, kq="auto", kp=entry["adaptive_kq"]["kp"])
    header = (f"# kq: auto written by python -m pyserini_diffretriever.sweep ({options.auto_mode} mode): K_q per query from "
              f"{path.stem}{PREDICTOR_SUFFIX} beside this file,\n# fitted on {options.collection} {options.select_split}; "
              f"K_p {data['kp']} selected there.\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    predictor_file = entry["_predictor"].save(path.with_name(path.stem + PREDICTOR_SUFFIX))
    auto = build_encoder(load_config(str(path), device=options.device), backbone=cache.backbone)
    qids = list(report_topics)
    out = auto.encode([report_topics[q] for q in qids], is_query=True, batch_size=options.batch_size)
    expected = entry["_predictor"].predict_features(*query_features(text_token_ids(auto, [report_topics[q] for q in qids])))
    worst = 0.0
    for n, (qid, k) in enumerate(zip(qids, auto.last_kq)):
        fixed = cache.queries(k, {qid: report_topics[qid]})
        worst = max(worst, float(np.abs(out.dense[n] - fixed.dense[0]).max()))
    return {"config": str(path), "predictor": str(predictor_file), "queries": len(qids),
            "kq_as_predicted": auto.last_kq == expected, "max_abs_diff_vs_fixed_kq_encoding": worst}


def markdown(report: dict) -> str:
    metric = LABELS.get(report["metric"], report["metric"])
    lines = [f"# K sweep: {Path(report['collection']).name}, encoder {report['encoder']}", "",
             f"Grid K_q {report['kqs']} x K_p {report['kps']}; selected on {report['select_split']} "
             f"({report['queries']['select']} queries), reported on {report['report_split']} "
             f"({report['queries']['report']} queries), {report['documents']} documents; measure {metric}.", "",
             f"| mode | selected (K_q, K_p) | select {metric} | report {metric} | report R@100 | best on report |",
             "|---|---|---|---|---|---|"]
    for m, e in report["modes"].items():
        s = e["selected"]
        b = e["best_on_report"]
        lines.append(f"| {m} | ({s['kq']}, {s['kp']}) | {s['select'][report['metric']]:.4f} | "
                     f"{s['report'][report['metric']]:.4f} | {s['report']['recall_100']:.4f} | "
                     f"({b['kq']}, {b['kp']}) {b[report['metric']]:.4f} |")
    lines += ["", f"Per-query oracles on {report['report_split']} ({metric}; gain over the selected cell):", "",
              "| mode | fixed | K_q oracle | K_p oracle | joint oracle |", "|---|---|---|---|---|"]
    for m, e in report["modes"].items():
        o = e["oracles"]["report"]
        lines.append(f"| {m} | {o['fixed']:.4f} | {o['kq_oracle']:.4f} (+{o['gain_kq_oracle']:.4f}) | "
                     f"{o['kp_oracle']:.4f} (+{o['gain_kp_oracle']:.4f}) | {o['joint_oracle']:.4f} "
                     f"(+{o['gain_joint_oracle']:.4f}) |")
    lines += ["", f"Oracle K_q vs query features on {report['report_split']} (queries whose measure varies with K_q):", "",
              "| mode | n | length rho (p) | length tau (p) | entropy rho (p) | entropy tau (p) |", "|---|---|---|---|---|---|"]

    def fmt(c, key):
        return "n/a" if c[key] is None else f"{c[key]:.3f} ({c[key.split('_')[0] + '_p']:.2g})"

    for m, e in report["modes"].items():
        c = e["correlations"]["report"]
        lines.append(f"| {m} | {c['length']['n']} | {fmt(c['length'], 'spearman_rho')} | {fmt(c['length'], 'kendall_tau')} "
                     f"| {fmt(c['entropy'], 'spearman_rho')} | {fmt(c['entropy'], 'kendall_tau')} |")
    lines += ["", f"Adaptive K_q (predictor fitted on {report['select_split']}, cross-validated) on {report['report_split']}:",
              "", "| mode | K_p | predictor | fixed | adaptive | K_q oracle | K_q chosen (count) |", "|---|---|---|---|---|---|---|"]
    for m, e in report["modes"].items():
        a = e["adaptive_kq"]
        lines.append(f"| {m} | {a['kp']} | {a['predictor']['info']['chosen']} | {a['report']['fixed']:.4f} | "
                     f"{a['report']['adaptive']:.4f} | {a['report']['oracle']:.4f} | "
                     f"{', '.join(f'{k}:{v}' for k, v in a['report']['chosen_counts'].items() if v)} |")
    if "per_passage_kp" in report:
        p = report["per_passage_kp"]
        lines += ["", f"Per-passage K_p ({p['rule']}; r chosen on {report['select_split']} as the smallest storage within "
                  f"{p['tolerance']} of the fixed K_p):", "",
                  "| mode | fixed K_p | storage fixed | r | storage per-passage | saving | report fixed | report per-passage |",
                  "|---|---|---|---|---|---|---|---|"]
        for m, e in p["modes"].items():
            f, c, key = e["fixed"], e["chosen"], e["storage_measure"]
            if c is None:
                lines.append(f"| {m} | {f['kp']} | {f[key]} {key} | none within tolerance | | | {f['report']:.4f} | |")
            else:
                lines.append(f"| {m} | {f['kp']} | {f[key]} {key} | {c['tokens_per_vector']:g} | {c[key]} {key} | "
                             f"{100 * e['saving']:.1f}% | {f['report']:.4f} | {c['report']:.4f} |")
    if "auto_config" in report:
        a = report["auto_config"]
        lines += ["", f"kq: auto config {a['config']} (predictor {a['predictor']}): {a['queries']} report queries encoded "
                  f"through the encoder factory, K_q as predicted: {a['kq_as_predicted']}, max |diff| vs the fixed-K_q "
                  f"encoding {a['max_abs_diff_vs_fixed_kq_encoding']:.2g}."]
    e = report["encoded_this_run"]
    lines += ["", f"Encoded in this run: {e['texts']} texts (corpus K_p {e['corpus'] or 'none'}, queries K_q "
              f"{e['queries'] or 'none'}); wall time {report['wall_seconds']} s."]
    return "\n".join(lines)
