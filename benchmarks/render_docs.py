"""Render the tables of measured figures in README.md and docs/*.md from the JSON that measured them.

A page marks each generated table with a pair of HTML comments (invisible once rendered):

    <!-- table:NAME -->
    ...whatever this script writes...
    <!-- /table:NAME -->

and this script rewrites what lies between them from the JSON under ``benchmarks/results/`` (or,
for the demo table, ``runs/reference/demo/results.json``), so a figure is typed once, where it
was measured, never by hand in a page. Every table ends with a line naming its JSON file.

    python benchmarks/render_docs.py           # rewrite the pages
    python benchmarks/render_docs.py --check   # exit 1 and name the pages that differ

``tests/unit/test_docs_tables.py`` runs the check, so a committed page cannot drift from its JSON.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
BLOCK = re.compile(r"<!-- table:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /table:(?P=name) -->", re.S)
START = re.compile(r"<!-- table:([\w.-]+) -->")

Renderer = Callable[[Path], list[str]]
TABLES: dict[str, Renderer] = {}


class RenderError(Exception):
    """A page whose markers or JSON cannot be rendered, with the page and the table named."""


def table(name: str) -> Callable[[Renderer], Renderer]:
    def register(function: Renderer) -> Renderer:
        TABLES[name] = function
        return function
    return register


def load(root: Path, relative: str | Path) -> dict:
    return json.loads((root / relative).read_text(encoding="utf-8"))


def rows(header: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table: the header, the rule, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def source_line(path: str | Path, data: dict | None = None) -> str:
    """The line under each table: the JSON file and, when it records one, the command that measured it."""
    text = f"Rendered from `{Path(path).as_posix()}`"
    if data and data.get("source"):
        text += f"; measured with {data['source']}"
    return text + "."


def f4(value: float) -> str:
    return f"{value:.4f}"


def signed4(value: float) -> str:
    return f"{value:+.4f}"


def minutes(seconds: int) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s} s" if s else f"{m} min"


def number(value: float) -> str:
    """A measured figure as it was recorded (Python's shortest repr: 9.0 stays 9.0)."""
    return str(value)


def scientific(value: float) -> str:
    """1.9e-07 written as 1.9e-7."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def ms(value: float) -> str:
    """Milliseconds: two decimals below 10 ms, one above."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


# ---- the demo collection (runs/reference/demo/results.json: what `make demo` prints)

DEMO = Path("runs/reference/demo/results.json")
MODES = ("bm25", "sparse", "dense", "hybrid")


@table("demo")
def demo(root: Path) -> list[str]:
    data = load(root, DEMO)
    head = (f"demo ({data['split']}, {data['queries']} queries, {data['documents']} documents), "
            f"encoder {data['encoder']}")
    lines = ["```", head, f"{'mode':<8}{'nDCG@10':>10}{'R@100':>10}{'R@1000':>10}{'MRR@10':>10}"]
    for mode in MODES:
        m = data[mode]
        lines.append(f"{mode:<8}" + "".join(f"{m[k]:>10.4f}" for k in
                                           ("ndcg_cut_10", "recall_100", "recall_1000", "recip_rank")))
    return lines + ["```", "", f"Rendered from `{DEMO.as_posix()}` (`make demo` on the reference machine; "
                    f"`tests/regression/test_reference_runs.py` re-runs it)."]


# ---- the default encoder on real collections

def _encoder_runs(root: Path) -> tuple[dict, list[dict]]:
    data = load(root, RESULTS / "default_encoder.json")
    return data, data["runs"]


@table("default-encoder-ndcg")
def default_encoder_ndcg(root: Path) -> list[str]:
    """nDCG@10 per collection and mode, the default encoder against BM25 (the README's summary)."""
    data, runs = _encoder_runs(root)
    body = []
    for collection in dict.fromkeys(r["collection"] for r in runs):
        mine = {r["mode"]: r for r in runs if r["collection"] == collection and r["encoder"] == "default"}
        first = next(iter(mine.values()))
        cells = [f"{collection} ({first['queries']} queries, {first['documents']:,} documents)"]
        cells += [f4(mine[mode]["ndcg_cut_10"]) for mode in MODES]
        body.append(cells)
    return rows(["collection (test)", "BM25", "sparse", "dense", "hybrid"], body) + [
        "", source_line(RESULTS / "default_encoder.json", data)]


@table("default-encoder")
def default_encoder(root: Path) -> list[str]:
    data, runs = _encoder_runs(root)
    body, previous = [], None
    for r in runs:
        key = (r["collection"], r["encoder"])
        if key != previous:
            label = f"{r['collection']} ({r['queries']} queries, {r['documents']:,} documents)"
            first = [label if previous is None or previous[0] != r["collection"] else "", f"`{r['encoder']}`"]
        else:
            first = ["", ""]
        previous = key
        mode = "BM25" if r["mode"] == "bm25" else r["mode"]
        body.append(first + [mode] + [f4(r[k]) for k in ("ndcg_cut_10", "recall_100", "recall_1000", "recip_rank")])
    return rows(["collection (test)", "encoder", "mode", "nDCG@10", "R@100", "R@1000", "MRR@10"], body) + [
        "", source_line(RESULTS / "default_encoder.json", data)]


@table("default-encoder-retrained")
def default_encoder_retrained(root: Path) -> list[str]:
    data = load(root, RESULTS / "default_encoder_retrained.json")
    body, previous = [], None
    by_collection: dict[str, list[dict]] = {}
    for r in data["rows"]:
        by_collection.setdefault(r["collection"], []).append(r)
    for collection, group in by_collection.items():
        best = {k: max(r[k] for r in group) for k in ("sparse", "dense", "hybrid")}
        for r in group:
            cells = [collection if collection != previous else "", data["models"][r["model"]]]
            cells += [f"**{f4(r[k])}**" if r[k] == best[k] else f4(r[k]) for k in ("sparse", "dense", "hybrid")]
            body.append(cells)
            previous = collection
    return rows(["collection", "model", "sparse", "dense", "hybrid (alpha 0.5)"], body) + [
        "", source_line(RESULTS / "default_encoder_retrained.json", data)]


# ---- installation and Lucene

@table("install-times")
def install_times(root: Path) -> list[str]:
    data = load(root, RESULTS / "install_times.json")
    body = []
    for r in data["rows"]:
        warm = minutes(r["warm_cache_s"]) + " with pip's cache warm"
        if r["warm_note"]:
            warm += f" ({r['warm_note']})"
        body.append([f"`{r['command']}`", f"`{r['environment']}`",
                     f"{r['pyserini']} / {r['anserini']} / {r['lucene']}", r["python"], r["torch"],
                     f"{warm}; {minutes(r['loaded_s'])} under load average ~20"])
    suite = "; ".join(f"{s['tests']} tests in {minutes(s['seconds'])} on {s['pyserini']}" for s in data["suite"])
    return rows(["command", "environment", "Pyserini / Anserini / Lucene", "Python", "torch 2.13.0",
                 "fresh install, measured"], body) + [
        "", f"Test suite ({data['suite_note']}): {suite}. Cold torch download on Python 3.12: "
            f"{minutes(data['torch_download_cold_s'])}.",
        "", source_line(RESULTS / "install_times.json", data)]


@table("wheel-install")
def wheel_install(root: Path) -> list[str]:
    data = load(root, RESULTS / "install_times.json")["wheel_install"]
    body = [[f"`pip install WHEEL[{r['extras']}]`" if r["extras"] else "`pip install WHEEL` (core)", r["python"],
             f"`{r['constraints']}`", f"{minutes(r['total_s'])} (torch {minutes(r['torch_s'])})",
             f"{r['venv_mb']:,} MB", f"{r['torch_mb']:,} MB", str(r["distributions"]),
             f"{r['pip_cache']}; load {r['load_average'][0]} / {r['load_average'][1]}"] for r in data["rows"]]
    return rows(["install (fresh venv)", "Python", "constraints", "time (torch first)", "venv size",
                 "of which torch (+ CUDA libraries)", "distributions", "pip cache; load average before / after"],
                body) + ["", source_line(RESULTS / "install_times.json", data) + f" Machine: {data['machine']}."]


@table("lucene-qps")
def lucene_qps(root: Path) -> list[str]:
    data = load(root, RESULTS / "lucene_qps.json")
    body = [[f"Pyserini {r['pyserini']}", r["lucene"], r["vector_module"], f"{number(r['bm25_qps'])} queries/s",
             f"{number(r['impact_qps'])} queries/s"] for r in data["rows"]]
    return rows(["environment", "Lucene", "jdk.incubator.vector", "BM25", "impact (default encoder)"], body) + [
        "", source_line(RESULTS / "lucene_qps.json", data) + f" Machine: {data['machine']}."]


# ---- serving: hybrid search in one process (benchmarks/bench_serve.py)

SERVE_STAGES = {"encode_torch": "query encoding, torch", "encode_onnx": "query encoding, ONNX (float32)",
                "sparse": "sparse search (Lucene impact, in process)", "dense_exact": "dense search, exact MaxSim",
                "dense_compressed": "dense search, compressed index", "fusion": "fusion (min-max)",
                "total": "**total** (torch encoding + sparse + exact dense + fusion)"}


@table("serve")
def serve(root: Path) -> list[str]:
    data = load(root, RESULTS / "serve.json")
    body = [[label, ms(data["b1"][key]["p50_ms"]), ms(data["b1"][key]["p95_ms"]), ms(data["b32"][key]["mean_ms"])]
            for key, label in SERVE_STAGES.items()]
    bm25 = data["bm25_in_process"]
    body.append(["BM25, `LuceneSearcher` in the same process (reference)", ms(bm25["p50_ms_b1"]),
                 ms(bm25["p95_ms_b1"]), ms(1000 / bm25["queries_per_s_b32"])])
    three = ", ".join(f"`{name}` {number(s)} s" for name, s in data["three_programs_s"].items())
    ndcg = data["ndcg_cut_10"]
    load_average = data.get("load_average")
    machine = data["machine"] + (f", load average {load_average['start']} to {load_average['end']}"
                                 if load_average else "")
    return rows(["ms per query", "batch 1, p50", "batch 1, p95", "batch 32"], body) + [
        "", f"{number(data['queries_per_s_b1'])} queries/s at batch 1, {number(data['queries_per_s_b32'])} at batch "
            f"32 ({data['queries']} queries x {data['hits']} hits over {data['documents']:,} documents; BM25 "
            f"{number(bm25['queries_per_s_b1'])} / {number(bm25['queries_per_s_b32'])}). The whole topics file from a "
            f"cold start: three programs {number(data['three_programs_total_s'])} s ({three}) against "
            f"`search.hybrid` {number(data['one_process_s'])} s, **{number(data['in_process_speedup'])}x**; "
            f"the two hybrid runs {'rank alike' if data['same_hybrid_run'] else 'differ'} (nDCG@10 "
            f"{f4(ndcg['three_programs'])} and {f4(ndcg['one_process'])}). Machine: {machine}.",
        "", source_line(RESULTS / "serve.json", data)]


# ---- serving: the whole hybrid inside Lucene (benchmarks/bench_late_interaction.py)

@table("late-interaction")
def late_interaction(root: Path) -> list[str]:
    data = load(root, RESULTS / "late_interaction.json")
    names = {"scifact": "SciFact", "cranfield": "Cranfield", "cisi": "CISI"}
    found = data["collections"]
    cols = [names.get(name, name) for name in found]
    cells = {
        "documents / test queries": lambda r: f"{r['documents']:,} / {r['queries']}",
        "Lucene bytes per document: impact postings": lambda r: f"{r['impact_bytes_per_document']:,.0f}",
        "... with the LateInteractionField": lambda r: f"{r['late_interaction_bytes_per_document']:,.0f}",
        "build s: impact index / with the field (adding the field)": lambda r: (
            f"{number(r['impact_build_s'])} / {number(r['late_interaction_build_s'])} ({number(r['field_add_s'])})"),
        "queries/s, top 1000 rescored (MaxSim / combined)": lambda r: f"{number(r['queries_per_s_maxsim'])} / "
                                                                     f"{number(r['queries_per_s_combined'])}",
        "nDCG@10 impact only": lambda r: f4(r["ndcg_cut_10"]["impact"]),
        "nDCG@10 Lucene rescoring, MaxSim": lambda r: f4(r["ndcg_cut_10"]["maxsim"]),
        "nDCG@10 Lucene rescoring, combined (alpha 0.5)": lambda r: f4(r["ndcg_cut_10"]["combined"]),
        "nDCG@10 fused hybrid (sparse + exact dense, alpha 0.5)": lambda r: f4(r["ndcg_cut_10"]["hybrid"]),
        "nDCG@10 dense only (exact)": lambda r: f4(r["ndcg_cut_10"]["dense"]),
    }
    body = [[label] + [cell(found[name]) for name in found] for label, cell in cells.items()]
    groups: dict[tuple[int, int], list[str]] = {}
    for c in data["configurations"]:
        groups.setdefault((c["kp"], c["dim"]), []).append(f"`{c['encoder'].removeprefix('diffretriever-')}`")
    sizes = [[", ".join(encoders), f"{kp} x {dim:,}", f"{kp * dim * 4 + 4:,}", f"{(kp * dim * 4 + 4) / 1e3:,.1f} GB"]
             for (kp, dim), encoders in sorted(groups.items(), key=lambda item: item[0][0] * item[0][1])]
    return rows([""] + cols, body) + [""] + rows(
        ["bundled configurations", "K_p x dim", "field bytes per document", "per million documents"], sizes) + [
        "", source_line(RESULTS / "late_interaction.json", data) + f" Machine: {data['machine']}."]


# ---- Qdrant

@table("qdrant-clamp")
def qdrant_clamp(root: Path) -> list[str]:
    data = load(root, RESULTS / "qdrant_clamp_fidelity.json")
    body = [[r["collection"], str(r["queries"]), f"{r['passages']:,}", f"{r['negative_maxima']} of {r['pairs']}",
             f"{r['lowest_maximum']:.3f}", " / ".join(str(p) for p in r["order_changed_pct"]) + " %",
             f4(r["dense_ndcg_cut_10"])] for r in data["rows"]]
    return rows(["collection (test)", "queries", "passages", "(query vector, passage) maxima < 0", "lowest maximum",
                 "top-1 / 10 / 100 / 1000 order changed", "dense nDCG@10 clamped = unclamped"], body) + [
        "", source_line(RESULTS / "qdrant_clamp_fidelity.json", data)]


@table("qdrant-scifact")
def qdrant_scifact(root: Path) -> list[str]:
    data = load(root, RESULTS / "qdrant_scifact.json")
    n, e, s = data["ndcg_cut_10"], data["export"], data["search_s"]

    def seconds(value):
        return f"{number(value)} s"

    body = [[f"{mode} nDCG@10", f4(n[mode]["package"]), f4(n[mode]["edge"]), f4(n[mode]["local"])]
            for mode in ("sparse", "dense", "hybrid")]
    body += [["qdrant-rerank (sparse top-1000, MAX_SIM)", "", f4(n["qdrant-rerank"]["edge"]), "not run"],
             ["qdrant-rrf (k 61)", "", f4(n["qdrant-rrf"]["edge"]), "not run"],
             ["dense, `--quantization scalar` / `binary`", "",
              f"{f4(n['dense_quantization']['scalar'])} / {f4(n['dense_quantization']['binary'])}", ""],
             [f"export ({e['points']:,} points)", f"Lucene impact index {seconds(e['package_lucene_index_s'])}",
              f"{seconds(e['edge_s'])}, {e['edge_points_per_s']} points/s "
              f"(+{seconds(e['edge_optimize_s'])} optimize)",
              f"{seconds(e['local_s'])}, {e['local_points_per_s']} points/s"],
             ["search sparse, 300 queries x 1000 hits",
              f"{seconds(s['sparse']['package'])} (child process with JVM start)",
              seconds(s["sparse"]["edge"]), seconds(s["sparse"]["local"])],
             ["search dense", seconds(s["dense"]["package"]), seconds(s["dense"]["edge"]),
              seconds(s["dense"]["local"])],
             ["search qdrant-rerank / qdrant-rrf", "",
              f"{seconds(s['qdrant-rerank']['edge'])} / {seconds(s['qdrant-rrf']['edge'])}", ""]]
    return rows(["run", "this package (Lucene impact / exact MaxSim)", "Qdrant, qdrant-edge", "Qdrant, local mode"],
                body) + ["", source_line(RESULTS / "qdrant_scifact.json", data) + f" Machine: {data['machine']}."]


@table("qdrant-export")
def qdrant_export(root: Path) -> list[str]:
    data = load(root, RESULTS / "qdrant_export.json")
    body = [[r["variant"], " / ".join(f"{number(x)} s" for x in r["seconds"]), f"{r['points_per_s']:,}"] for r in data["rows"]]
    return rows([f"{data['points']:,} points, {data['engine']}", f"export time ({data['repeats']} runs)",
                 "points/s (median)"], body) + [
        "", f"4 workers over 1: {data['four_over_one']}x. " + source_line(RESULTS / "qdrant_export.json", data)
        + f" {data['encoded']}. Machine: {data['machine']}."]


# ---- compressed dense index

def _delta(cell: dict | None, bold: bool = False) -> str:
    if cell is None:
        return ""
    text = signed4(cell["mean"])
    if bold:
        text = f"**{text}**"
    if cell.get("worst") is not None:
        text += f" [{signed4(cell['worst'])}, {signed4(cell['best'])}]"
    return text


@table("compress-real")
def compress_real(root: Path) -> list[str]:
    data = load(root, RESULTS / "compress_real.json")
    body = []
    for r in data["rows"]:
        ratio = r["ratio"][0]
        ratios = f"{ratio:.2f}" + (f"; {r['ratio'][1]:.2f}, {r['ratio'][2]:.2f}" if len(r["ratio"]) == 3 else "")
        low, high = r["ms_per_query"]
        bold = r.get("bold_test", False)
        body.append([r["layout"], ratios, _delta(r["scifact_train"]), _delta(r["scifact_test"], bold),
                     _delta(r["cranfield_test"], bold), _delta(r["cisi_test"], bold), f"{r['recall_100']:.3f}",
                     f"{low}-{high}" if low != high else str(low)])
    exact = data["exact_ndcg_cut_10"]
    return rows(["layout (centroids + residual)", "ratio SciFact; Cranfield, CISI", "SciFact train", "SciFact test",
                 "Cranfield test", "CISI test", "recall@100 SciFact test", "ms/query"], body) + [
        "", f"Exact nDCG@10 (the reference of the deltas): SciFact train {f4(exact['scifact_train'])}, test "
            f"{f4(exact['scifact_test'])}; Cranfield {f4(exact['cranfield_test'])}; CISI {f4(exact['cisi_test'])}.",
        "", source_line(RESULTS / "compress_real.json", data)]


@table("compress-synthetic")
def compress_synthetic(root: Path) -> list[str]:
    data = load(root, RESULTS / "compress_synthetic.json")
    body = []
    for r in data["rows"]:
        peak, rss = f"{r['build_peak_gb']:.2f}", f"{r['search_rss_gb']:.2f}"
        if r["current"]:
            peak, rss = f"**{peak}**", f"**{rss}**"
        full = f4(r["recall_full"]) if r.get("recall_full") is not None else "not measured"
        body.append([str(r["dim"]), r["docs"], f"`{r['codec']}`", f"{r['ratio']:.2f}", f4(r["recall_compressed"]), full,
                     f4(r["recall_rerank"]), f"{r['ms_per_query_b32']:.1f}", f"{r['exact_ms_per_query']:.1f}",
                     number(r["speedup"]), str(r["build_s"]), peak, f"{rss} ({r['index_gb']:.2f})"])
    return rows(["dim", "docs", "codec", "ratio", "recall@100 compressed (first 100k docs)",
                 "recall@100 compressed (all docs)", "recall@100 rerank 400", "ms/query b32",
                 "exact ms/query", "speed-up", "build s", "build peak RSS GB", "search RSS GB (index GB)"], body) + [
        "", source_line(RESULTS / "compress_synthetic.json", data)]


@table("compress-synthetic-layouts")
def compress_synthetic_layouts(root: Path) -> list[str]:
    data = load(root, RESULTS / "compress_synthetic_layouts.json")
    body = [[r["layout"], f"{r['ratio']:.2f}", f"{r['recall_compressed']:.3f}", f"{r['recall_rerank']:.3f}",
             f"{r['ms_per_query_b32']:.1f}", number(r["speedup"]),
             "this session, nothing beside the timing" if r.get("session") else "an earlier session, under load"]
            for r in data["rows"]]
    return rows(["layout", "ratio", "recall@100 compressed", "rerank 400", "ms/query b32", "speed-up vs exact", "measured"],
                body) + ["", source_line(RESULTS / "compress_synthetic_layouts.json", data)]


@table("compress-curve")
def compress_curve(root: Path) -> list[str]:
    data = load(root, RESULTS / "compress_curve.json")
    body = []
    for config in data["configs"]:
        for r in config["rows"]:
            cells = [config["label"], str(r.get("nprobe", "default")), str(r.get("candidates", "default")),
                     str(r.get("candidate_docs", "default")), r["scoring"], f4(r["recall_at_100"]),
                     f4(r["candidate_recall"]), f"{r['ms_per_query']:.1f}", f"{100 * r['seconds_faiss_share']:.0f}%",
                     f"{r['reranked_docs']:.0f}"]
            if r.get("note"):
                cells[0] += f" ({r['note']})"
            body.append([f"**{c}**" for c in cells] if r.get("bold") else cells)
    return rows(["index", "nprobe", "k' (codes per query vector)", "candidate docs (x k)", "scoring",
                 "recall@100 vs exact", "candidate recall", "ms/query b32", "candidate scan share",
                 "docs scored per query"], body) + ["", source_line(RESULTS / "compress_curve.json", data)]


@table("compress-msmarco")
def compress_msmarco(root: Path) -> list[str]:
    data = load(root, RESULTS / "compress_msmarco_projection.json")
    body = [[r["model"], f"{r['kp']} x {r['hidden']}", f"{r['float16_gb']} GB",
             f"{number(r['compressed_gb'])} GB (`{r['codec']}`, {r['bytes_per_vector']} B/vector)",
             number(r["ratio"]), r["paper"]] for r in data["rows"]]
    return rows(["model", "K_p x H", "float16", "compressed", "ratio", "paper (float16 -> ColBERTv2-style)"],
                body) + ["", source_line(RESULTS / "compress_msmarco_projection.json", data)]


PEER_NAMES = {"ours-default": "this package, default", "plaid2": "PLAID 2-bit", "plaid4": "PLAID 4-bit",
              "warp2": "WARP 2-bit", "warp4": "WARP 4-bit"}


@table("peers")
def peers(root: Path) -> list[str]:
    data = load(root, RESULTS / "peers.json")
    body = []
    for r in data["rows"]:
        name = PEER_NAMES.get(r["system"], "this package, `" + r["system"].removeprefix("ours-").replace("+", "` + `") + "`")
        setting = r.get("setting") or {}
        if r["system"] == "ours-default":
            detail = f" ({setting['layout'].split(' (')[0]})" if setting.get("layout") else ""
        elif r["system"].startswith("ours"):
            detail = ""
        elif r["tuned"]:
            detail = ", tuned on train: " + ", ".join(f"{k} {v:,}" for k, v in setting.items())
        else:
            detail = ", defaults"
        body.append([name + detail, f"{r['bytes_per_vector']} ({r['ratio_vs_fp16']:.1f}x)", signed4(r["delta_ndcg10"]),
                     f"{r['recall_at_100_vs_exact']:.3f}", number(r["hits_returned"]), ms(r["ms_per_query"]),
                     ms(r["ms_per_query_b1"])])
    summary = data.get("summary") or {}
    lines = rows(["system (search setting)", "bytes/vector (ratio vs float16)", "nDCG@10 change", "recall@100 vs exact",
                  "hits returned", "ms/query, all queries in one call", "ms/query, one at a time"], body)
    if summary:
        lines += ["", f"Fastest tuned peer: {PEER_NAMES[summary['fastest_tuned_peer']]}, "
                      f"{ms(summary['fastest_tuned_peer_ms_per_query'])} ms/query; this package's default "
                      f"{ms(summary['ours_default_ms_per_query'])} ms/query; target (no slower, ratio >= 6, "
                      f"nDCG@10 within 0.005) {'met' if summary['target_met'] else 'not met'}."]
    return lines + ["", source_line(RESULTS / "peers.json", data)]


# ---- ONNX

@table("onnx-latency")
def onnx_latency(root: Path) -> list[str]:
    data = load(root, RESULTS / "onnx_latency.json")

    def with_speedup(r, key):
        value = number(r[f"{key}_b1_ms"])
        speedup = r.get(f"{key}_speedup")
        return f"{value} ({speedup:.2f}x)" if speedup else value

    body = [[r["encoder"], str(r["threads"]), number(r["torch_b1_ms"]), with_speedup(r, "fp32"),
             with_speedup(r, "int8"), number(r["torch_b32_qps"]), number(r["fp32_b32_qps"]),
             number(r["int8_b32_qps"])] for r in data["rows"]]
    return rows(["encoder", "threads", "torch b1 ms", "ONNX fp32 b1 ms", "ONNX int8 b1 ms", "torch b32 q/s",
                 "fp32 b32 q/s", "int8 b32 q/s"], body) + [
        "", source_line(RESULTS / "onnx_latency.json", data) + f" Machine: {data['machine']}."]


@table("onnx-processes")
def onnx_processes(root: Path) -> list[str]:
    data = load(root, RESULTS / "onnx_processes.json")
    body = [[r["process"], f"{number(r['torch_s'])} s / {r['torch_mib']} MiB",
             f"{number(r['onnx_s'])} s / {r['onnx_mib']} MiB",
             f"{r['less_pct']}% less" if r["less_pct"] is not None else "", r["note"]] for r in data["rows"]]
    out = data["outputs"]
    return rows(["process (fresh interpreter)", "torch: time / peak memory", "ONNX", "memory", "note"], body) + [
        "", f"Outputs: float32 equals torch (largest dense difference "
            f"{scientific(out['max_dense_diff_fp32']['default'])} default / "
            f"{scientific(out['max_dense_diff_fp32']['dream'])} Dream layout, every sparse vector identical); int8 "
            f"smallest cosine to the torch vectors {out['min_cosine_int8']['default']} / "
            f"{out['min_cosine_int8']['dream']}; demo nDCG@10 dense {f4(out['demo_ndcg_cut_10']['dense_torch_fp32'])} "
            f"(torch, fp32) vs {f4(out['demo_ndcg_cut_10']['dense_int8'])} (int8), sparse "
            f"{f4(out['demo_ndcg_cut_10']['sparse_all'])} for all three. Files: {out['files_mib']['fp32']} MiB fp32, "
            f"{out['files_mib']['int8']} MiB int8 (default).",
        "", source_line(RESULTS / "onnx_processes.json", data)]


# ---- diffusion vs autoregressive (benchmarks/bench_comparison.py writes this JSON itself)

COMPARISON = RESULTS / "bench_comparison.json"


@table("comparison-representations")
def comparison_representations(root: Path) -> list[str]:
    data = load(root, COMPARISON)
    rep = data["representations"]["cpu"]
    body = [[str(n), f"{d:.1f}", f"{a:.1f}", f"{r:.2f}"] for n, d, a, r in
            zip(rep["n"], rep["diffusion_ms"], rep["autoregressive_ms"], rep["ar_over_diffusion"])]
    m = data["model"]
    return rows(["representations", "diffusion one pass, ms", "autoregressive decoding, ms",
                 "autoregressive / diffusion"], body) + [
        "", f"A {rep['query_text_tokens']}-token query, median of {rep['rounds']} rounds, the same weights in both "
            f"layouts (hidden {m['hidden_size']}, {m['num_layers']} layers, vocabulary {m['vocab_size']:,}, "
            f"{m['dtype']}); each extra decoding step costs {rep['autoregressive_ms_per_extra_step']} ms.",
        "", f"Rendered from `{COMPARISON.as_posix()}` (`make bench-comparison`; machine: "
            f"{data['machine']['cpu_count']} CPUs, torch {data['machine']['torch']})."]


@table("comparison-input-length")
def comparison_input_length(root: Path) -> list[str]:
    data = load(root, COMPARISON)
    lengths = data["input_length"]["cpu"]
    body = [[str(t), f"{k1:.1f}", f"{k16:.1f}", f"{r:.2f}", f"{a1:.1f}", f"{a16:.1f}", f"{ar:.2f}"]
            for t, k1, k16, r, a1, a16, ar in zip(
                lengths["text_tokens"], lengths["diffusion_k1_ms"], lengths["diffusion_k16_ms"],
                lengths["diffusion_multi_over_single"], lengths["ar_n1_ms"], lengths["ar_n16_ms"],
                lengths["ar_multi_over_single"])]
    return rows(["text tokens", "diffusion K=1 ms", "diffusion K=16 ms", "K=16 / K=1", "autoregressive N=1 ms",
                 "autoregressive N=16 ms", "N=16 / N=1"], body) + [
        "", f"Median of {lengths['rounds']} rounds. Rendered from `{COMPARISON.as_posix()}` (`make bench-comparison`)."]


@table("comparison-search")
def comparison_search(root: Path) -> list[str]:
    data = load(root, COMPARISON)
    search = data["search"]
    body = []
    for kp, r in search["by_kp"].items():
        for vectors, docs, one, batch in zip(r["vectors"], r["docs"], r["single_query_ms"], r["batch32_ms_per_query"]):
            body.append([kp, f"{vectors:,}", f"{docs:,}", ms(one), ms(batch)])
    return rows(["K_p", "passage vectors", "documents", "one query, ms", "batch of 32, ms/query"], body) + [
        "", f"{search['search']}, dimension {search['dim']}, K_q {search['kq']}, top {search['top_k']}. "
            f"Rendered from `{COMPARISON.as_posix()}` (`make bench-comparison`)."]


@table("comparison-storage")
def comparison_storage(root: Path) -> list[str]:
    data = load(root, COMPARISON)
    storage = data["storage"]
    body = [[kp, f"{r['kp_h_2']:,}", f"{r['dense_bytes_per_doc']:,}", f"{r['lucene_bytes_per_doc']}",
             " / ".join(str(p) for p in r["postings_per_doc"])] for kp, r in storage["by_kp"].items()]
    return rows(["K_p", "K_p x H x 2 bytes", "dense store bytes/document", "Lucene index bytes/document",
                 "postings/document (each corpus)"], body) + [
        "", f"{storage['checkpoint']}, {storage['words_per_document']} words per document, corpora of "
            f"{', '.join(map(str, storage['by_kp']['1']['docs']))} documents: from K_p = 1 to 16 the dense store grows "
            f"{storage['dense_growth_kp16_over_kp1']}x, the Lucene index {storage['lucene_growth_kp16_over_kp1']}x. "
            f"Rendered from `{COMPARISON.as_posix()}` (`make bench-comparison`)."]


# ---- K sweeps (python -m pyserini_diffretriever.sweep writes sweep.json)

SWEEPS = ("scifact", "cranfield", "cisi")


def _predictor_name(predictor: dict) -> str:
    features = predictor.get("features") or []
    if not features:
        return "fixed"
    return "+".join(features) + f"/{len(predictor['edges'][0]) + 1}"


@table("sweep")
def sweep(root: Path) -> list[str]:
    body = []
    for name in SWEEPS:
        data = load(root, RESULTS / "sweep" / name / "sweep.json")
        grid = (f"{name}, K_q {' '.join(map(str, data['kqs']))} x K_p {' '.join(map(str, data['kps']))}")
        for i, mode in enumerate(("dense", "sparse", "hybrid")):
            m = data["modes"][mode]
            o = m["oracles"]["report"]
            a = m["adaptive_kq"]
            p = data["per_passage_kp"]["modes"][mode]
            body.append([grid if i == 0 else "", mode, f"({m['selected']['kq']}, {m['selected']['kp']})",
                         f4(o["fixed"]), f"{f4(o['kq_oracle'])} / {f4(o['kp_oracle'])} / {f4(o['joint_oracle'])}",
                         f"{f4(a['report']['adaptive'])} ({_predictor_name(a['predictor'])})",
                         f"{p['saving'] * 100:.1f}% ({p['storage_measure']}), {f4(p['chosen']['report'])}"])
    return rows(["collection, grid", "mode", "selected (K_q, K_p)", "fixed", "K_q / K_p / joint oracle",
                 "adaptive K_q", "per-passage K_p: storage saved, nDCG@10"], body) + [
        "", "Rendered from `benchmarks/results/sweep/<collection>/sweep.json` (`make bench-sweep`)."]


@table("sweep-correlations")
def sweep_correlations(root: Path) -> list[str]:
    parts = []
    for name in SWEEPS:
        data = load(root, RESULTS / "sweep" / name / "sweep.json")
        c = data["modes"]["hybrid"]["correlations"]["report"]

        def feature(key):
            f = c[key]
            return (f"{key} rho {round(f['spearman_rho'], 3)} (p {round(f['spearman_p'], 2)}), "
                    f"tau {round(f['kendall_tau'], 3)} (p {round(f['kendall_p'], 2)})")

        parts.append(f"{name}: n {c['length']['n']}, {feature('length')}; {feature('entropy')}")
    return ["Oracle K_q (hybrid, report split) vs query features: " + "; ".join(parts) + ". Rendered from "
            "`benchmarks/results/sweep/<collection>/sweep.json`."]


# ---- beyond one machine (docs/cluster.md)

@table("ray-encode")
def ray_encode(root: Path) -> list[str]:
    data = load(root, RESULTS / "ray.json")
    body = [[str(r["run"]), str(r["workers"]), f"{r['documents']:,}", f"{r['wall_s']:.1f} s", f"{r['docs_per_s']:.1f}",
             f"{r['encoding_docs_per_s']:.1f}", f"{r['load_before']:.1f} / {r['load_after']:.1f}",
             " / ".join(str(n) for n in r["chunks_by_worker"])] for r in data["rows"]]
    first = str(data["rows"][0]["workers"])
    ratios = "; ".join(f"{w} vs {first} worker(s): {r['docs_per_s']:.2f}x "
                       f"({r['encoding_docs_per_s']:.2f}x encoding only)"
                       for w, r in data["ratio_of_means"].items() if w != first)
    same = "identical, file for file" if data["outputs_identical"] else "NOT identical"
    return rows(["run", "workers", "documents", "wall time", "docs/s", "docs/s encoding only",
                 "load average before / after", "chunks by worker"], body) + [
        "", f"Throughput ratio (means over the runs): {ratios}. {data['corpus']}, `{data['encoder']}`, chunks of "
            f"{data['chunk_size']}; the folders of all runs {same}. Machine: {data['machine']}. "
            + source_line(RESULTS / "ray.json", data)]


@table("load-memory")
def load_memory(root: Path) -> list[str]:
    data = load(root, RESULTS / "load_memory.json")
    routes = {"before": "before: read in the target dtype, then moved",
              "after": "now: read as stored (mapped), each weight moved and cast"}
    body = [[r["dtype"], routes[r["route"]], f"{r['load_mib']:,} MiB", f"{r['peak_mib']:,} MiB",
             f"{r['model_mib']:,} MiB", f"{r['seconds']:.1f} s"] for r in data["rows"]]
    c = data["checkpoint"]
    shape = c["shape"]
    return rows(["dtype on the CPU", "route", "peak host memory of the load", "process peak", "model in memory",
                 "time"], body) + [
        "", f"Checkpoint: Dream-7B widths (hidden {shape['hidden_size']}, MLP {shape['intermediate_size']}, "
            f"vocabulary {shape['vocab_size']:,}), {shape['layers']} of {c['of_dream_7b_layers']} layers, "
            f"{c['stored_dtype']} in {c['shards']} safetensors files ({c['safetensors_mib']:,} MiB). "
            + source_line(RESULTS / "load_memory.json", data)]


@table("verify-speed")
def verify_speed(root: Path) -> list[str]:
    data = load(root, RESULTS / "verify_speed.json")
    f = data["file"]
    body = [[f"generated file, {f['bytes'] / 1e9:.1f} GB", f"{f['read_cold_s_per_gb']:.2f}", f"{f['full_cold_s_per_gb']:.2f}",
             f"{f['full_warm_s_per_gb']:.2f}", f"{f['fast_stamped_s']:.4f} s", f"{f['record_s'] / f['bytes'] * 1e9:.2f}"]]
    for s in data["stores"]:
        name = "SciFact compressed index" if s["path"].rstrip("/").endswith("compressed") else "SciFact dense store"
        body.append([f"{name}, {s['bytes'] / 1e6:.1f} MB", "", f"{s['full_cold_s_per_gb']:.2f}", f"{s['full_warm_s_per_gb']:.2f}",
                     f"{s['fast_stamped_s']:.4f} s", f"{s['record_s'] / s['bytes'] * 1e9:.2f}"])
    return rows(["what", "plain read, cold (s/GB)", "full, cold (s/GB)", "full, warm (s/GB)",
                 "fast, stamped (whole check)", "recording (s/GB)"], body) + [
        "", f"Machine: {data['machine']}, {data['cpus']} CPUs, shared with other work while measured (small folders: "
            f"fixed costs dominate their s/GB). " + source_line(RESULTS / "verify_speed.json", {"source": f"`{data['command']}`"})]


@table("verify-startup")
def verify_startup(root: Path) -> list[str]:
    data = load(root, RESULTS / "verify_startup_scifact.json")
    layouts = [name for name in ("exact", "compressed") if name in data]
    labels = (("off", "off"), ("fast_stamped", "fast, stamped (every later search)"),
              ("fast_first_warm", "fast, first use (warm)"), ("fast_first_cold", "fast, first use (cold)"),
              ("full_warm", "full (warm)"), ("full_cold", "full (cold)"))
    body = [[label] + [f"{data[layout][key + '_s']:.3f} s" for layout in layouts] for key, label in labels]
    return rows(["--verify", *(f"{layout} ({'store' if layout == 'exact' else 'compressed index'})" for layout in layouts)],
                body) + [
        "", f"`load_index` of SciFact's dense store ({data['docs']:,} documents, {data['store_bytes'] / 1e6:.0f} MB) and its "
            f"compressed index ({data['compressed_bytes'] / 1e6:.1f} MB), best of 2, imports excluded. Machine: "
            f"{data['machine']}, {data['cpus']} CPUs, shared. "
            + source_line(RESULTS / "verify_startup_scifact.json", {"source": f"`{data['command']}`"})]


@table("hostile-trial")
def hostile_trial(root: Path) -> list[str]:
    data = load(root, RESULTS / "hostile_trial.json")

    def cell(text) -> str:
        return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")

    body = [[str(r["number"]), r["kind"], cell(r["case"]), cell(r["did"]), cell(r["exit"]),
             f"`{cell(r['first_line'])[:160]}`" if r["first_line"] else "",
             r["verdict"] + (f" ({cell(r['reason'])})" if r.get("reason") else "")] for r in data["rows"]]
    return rows(["#", "kind", "case", "what was done", "exit", "first line", "verdict"], body) + [
        "", f"{data['handled']} of {data['cases']} handled, {data['not_handled']} not, {data['skipped']} skipped; "
            f"{data['collection']}, `{data['encoder']}`. " + source_line(RESULTS / "hostile_trial.json",
                                                                      {"source": f"`{data['command']}`"})]


# ---- the rewriting

def render_text(text: str, root: Path = ROOT, page: str = "<text>") -> str:
    """``text`` with every marked block re-rendered; a marker without its end or an unknown
    table name is a :class:`RenderError`."""
    starts = START.findall(text)
    blocks = [m.group("name") for m in BLOCK.finditer(text)]
    if starts != blocks:
        raise RenderError(f"{page}: unbalanced table markers (opened {starts}, closed {blocks})")

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise RenderError(f"{page}: unknown table {name!r} (known: {', '.join(sorted(TABLES))})")
        try:
            body = TABLES[name](root)
        except (OSError, KeyError, ValueError, TypeError, IndexError) as err:
            raise RenderError(f"{page}: table {name!r} cannot be rendered: {err!r}") from err
        return f"<!-- table:{name} -->\n" + "\n".join(body) + f"\n<!-- /table:{name} -->"

    return BLOCK.sub(replace, text)


# ---- keeping an index current (docs/updating.md)

@table("update-wall-time")
def update_wall_time(root: Path) -> list[str]:
    data = load(root, RESULTS / "update.json")
    body = [[f"{100 * r['share']:g}%", f"{r['edited']} / {r['deleted']} / {r['added']}", f"{r['encoded_by_update']:,}",
             f"{r['update_seconds']:.1f} s", f"{r['rebuild_seconds']:.1f} s", f"{r['ratio']:.3f}"]
            for r in data["wall_time"]]
    return rows(["changed", "edited / deleted / added", "encoded by the update", "update (encode --update + "
                 "index.update)", "rebuild (encode + Lucene)", "ratio"], body) + [
        "", f"{data['collection']}, `{data['encoder']}`, the model loaded before either clock starts; "
            f"{data['threads']} CPU cores. " + source_line(RESULTS / "update.json")]


@table("update-compressed-growth")
def update_compressed_growth(root: Path) -> list[str]:
    data = load(root, RESULTS / "update.json")["compressed_growth"]
    names = {"default": "default (per-passage centroids)", "codes": "one code per vector"}
    body = []
    for layout, entry in data["layouts"].items():
        for r in entry["grown"]:
            kept, retrained, exact, drift = r["ndcg10_no_retraining"], r["ndcg10_retrained"], r["ndcg10_exact"], r["drift"]
            other = r["added_from"] if r["added_from"] != "scifact" else r.get("trained_on")
            trained = f"{r['trained_on']} ({r['base_documents']:,})" if r.get("trained_on") else \
                f"half of SciFact ({data['base_documents']:,})"
            codecs = dict(entry, **{k: r[k] for k in ("codec", "centroids") if k in r})
            body.append([f"{names.get(layout, layout)}: {'`' + codecs['centroids'] + '` + ' if codecs.get('centroids') else ''}"
                         f"`{codecs['codec']}`", trained, r["scenario"], f"{r['documents']:,}", f"{100 * drift['growth']:.1f}%",
                         "-" if drift["error_ratio"] is None else f"{drift['error_ratio']:.2f}x",
                         "retrain" if drift["retrain"] else "keep",
                         f"{f4(kept['scifact-test'])} / {f4(retrained['scifact-test'])} / {f4(exact['scifact-test'])}",
                         signed4(kept["scifact-train"] - retrained["scifact-train"]),
                         f"{f4(kept[other])} / {f4(retrained[other])} / {f4(exact[other])}" if other else "-"])
    t = data["thresholds"]
    return rows(["layout and codecs", "codecs trained on (documents)", "grown by", "documents", "vectors added (growth)",
                 "error ratio", "report says", "nDCG@10 SciFact test: kept / retrained / exact",
                 "SciFact train: kept - retrained", "the other collection's queries: kept / retrained / exact"], body) + [
        "", "Grown by SciFact's other documents (shares of the half trained on), by a whole other collection, or (codecs "
            "trained on another collection) by all of SciFact; each collection evaluated with its own queries and judgments, "
            "its documents' ids kept apart; kept: the trained codecs, updated in place; retrained: built anew on the grown "
            f"collection. The report's thresholds: growth {100 * t['growth']:g}%, error ratio {t['error_ratio']:g}. "
            + source_line(RESULTS / "update.json")]


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render_all(root: Path = ROOT, write: bool = True) -> list[Path]:
    """Render every page; return those whose text changed (written back unless ``write`` is False)."""
    changed = []
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        rendered = render_text(text, root, str(page.relative_to(root)))
        if rendered != text:
            changed.append(page)
            if write:
                page.write_text(rendered, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/render_docs.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a page differs")
    args = parser.parse_args(argv)
    try:
        changed = render_all(ROOT, write=not args.check)
    except RenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for page in changed:
        print(f"{'differs' if args.check else 'rendered'}: {page.relative_to(ROOT)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
