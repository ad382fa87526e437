"""Lucene search speed (queries per second) of BM25 and impact search with stock Pyserini.

    python benchmarks/bench_lucene.py --bm25-index IDX --impact-index IDX --queries Q.jsonl

``--queries`` is the cached-query JSONL that ``python -m pyserini_diffretriever.run`` writes
(``{"id", "contents", "vector"}`` per line): BM25 searches ``contents``, impact search the
given ``vector`` (through ``LuceneImpactSearcher`` with an encoder object that returns it, so
that only Lucene is timed, not query encoding). Each searcher answers every query once to
warm up, then ``--repeats`` times; the best pass gives the QPS (one thread, ``--hits`` hits).

It also reports whether the JVM has the module ``jdk.incubator.vector`` in its boot layer,
which Lucene uses for vectorised postings decoding and vector scoring (Lucene 10 warns and
falls back to scalar code without it). ``make bench-lucene`` runs the whole thing on SciFact
for the installed Pyserini; the last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata


class FixedVectors:
    """A Pyserini query encoder returning the cached vector of each query text."""

    is_diffretriever_encoder = True  # min_idf -1 through the hook: every query token is kept

    def __init__(self, vectors: dict[str, dict[str, int]]) -> None:
        self.vectors = vectors

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        return self.vectors[text]


def read_queries(path: str) -> list[tuple[str, str, dict[str, int]]]:
    queries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
                queries.append((str(row["id"]), row["contents"], {t: int(w) for t, w in row["vector"].items()}))
            except (ValueError, KeyError, AttributeError) as err:
                raise SystemExit(f"{path}:{number}: expected a JSON object with id, contents and vector ({err})")
    if not queries:
        raise SystemExit(f"{path}: no queries")
    return queries


def time_passes(search, texts: list[str], repeats: int, hits: int) -> dict:
    for text in texts:  # warm-up: JIT, page cache
        search(text, hits)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            search(text, hits)
        best = min(best, time.perf_counter() - start)
    return {"queries": len(texts), "best_pass_seconds": round(best, 4), "qps": round(len(texts) / best, 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="BM25 and impact search QPS with stock Pyserini (one thread).")
    parser.add_argument("--bm25-index", required=True, help="Lucene BM25 index (JsonCollection)")
    parser.add_argument("--impact-index", required=True, help="Lucene impact index (JsonVectorCollection --impact)")
    parser.add_argument("--queries", required=True, help="cached-query JSONL: id, contents, vector")
    parser.add_argument("--hits", type=int, default=1000, help="hits per query")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the queries (best one counts)")
    args = parser.parse_args(argv)
    queries = read_queries(args.queries)

    from pyserini.search.lucene import LuceneImpactSearcher, LuceneSearcher  # first: it sets the classpath
    from jnius import autoclass

    boot = autoclass("java.lang.ModuleLayer").boot()
    system = autoclass("java.lang.System")
    result = {
        "pyserini": metadata.version("pyserini"),
        "python": sys.version.split()[0],
        "java": system.getProperty("java.version"),
        "lucene": autoclass("org.apache.lucene.util.Version").LATEST.toString(),
        "vector_module_loaded": bool(boot.findModule("jdk.incubator.vector").isPresent()),
        "hits": args.hits,
    }
    texts = [text for _, text, _ in queries]
    bm25 = LuceneSearcher(args.bm25_index)
    bm25.set_bm25()
    result["bm25"] = time_passes(lambda q, k: bm25.search(q, k), texts, args.repeats, args.hits)
    impact = LuceneImpactSearcher(args.impact_index, FixedVectors({text: vec for _, text, vec in queries}))
    result["impact"] = time_passes(lambda q, k: impact.search(q, k), texts, args.repeats, args.hits)
    print(f"Pyserini {result['pyserini']} (Lucene {result['lucene']}, Java {result['java']}, "
          f"jdk.incubator.vector {'loaded' if result['vector_module_loaded'] else 'absent'})")
    for mode in ("bm25", "impact"):
        print(f"  {mode:<7} {result[mode]['qps']:>8.1f} queries/s ({result[mode]['queries']} queries, {args.hits} hits)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
