"""python -m pyserini_diffretriever.train: contrastive fine-tuning of a DiffRetriever encoder.

    python -m pyserini_diffretriever.train --encoder diffretriever-splade-tiny \
        --train ../shared/data/scifact --split train --output runs/ft/scifact

``--train`` is a BEIR-layout folder (positives from ``qrels/<split>.tsv``, hard negatives
mined with BM25), a Tevatron-style JSONL (``query``, ``positive_passages``,
``negative_passages``) or a ``query<TAB>positive<TAB>negative`` TSV. The output folder is an
encoder: ``--encoder OUTPUT/encoder.yaml``.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import DEFAULT_EXPECTED, HelpFormatter, run_command
from .losses import DENSE_FORMS
from .trainer import SCHEDULES, TrainOptions, Trainer


def build_parser() -> argparse.ArgumentParser:
    d = TrainOptions("", "", "")
    p = argparse.ArgumentParser(prog="python -m pyserini_diffretriever.train", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--encoder", required=True, help="the base encoder: diffretriever-<config> or a YAML path")
    p.add_argument("--train", required=True, help="BEIR folder, Tevatron JSONL or triples TSV")
    p.add_argument("--split", default=d.split, help="qrels split of a BEIR folder")
    p.add_argument("--output", required=True, help="output folder (becomes the fine-tuned encoder)")
    p.add_argument("--name", help="encoder name in the written YAML (default: the output folder's name)")
    g = p.add_argument_group("model")
    g.add_argument("--method", choices=("auto", "full", "lora"), default=d.method,
                   help="auto: full fine-tuning for masked LMs, LoRA for Dream/LLaDA")
    g.add_argument("--lora-r", type=int, default=d.lora_r, help="LoRA rank")
    g.add_argument("--lora-alpha", type=int, default=d.lora_alpha, help="LoRA alpha (updates scaled by alpha / r)")
    g.add_argument("--lora-dropout", type=float, default=d.lora_dropout, help="dropout on the LoRA inputs")
    g.add_argument("--lora-targets", nargs="+", help="module-name suffixes (default: per backbone)")
    g.add_argument("--freeze-embeddings", action="store_true", help="full fine-tuning: keep the input embeddings "
                   "(and an LM head tied to them) fixed")
    g.add_argument("--no-dropout", dest="dropout", action="store_false", help="train with dropout off")
    g.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute activations in the backward pass (less memory, slower)")
    g.add_argument("--kq", type=int, help="query masks (default: the base config's)")
    g.add_argument("--kp", type=int, help="passage masks (default: the base config's)")
    g.add_argument("--max-length-query", type=int, help="query token budget (default: the base config's)")
    g.add_argument("--max-length-passage", type=int, help="passage token budget (default: the base config's)")
    g.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    g.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                   help="weights' dtype (default: float32; bfloat16 for a LoRA base on CUDA, with bf16 autocast)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training queries")
    g.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="queries per micro-batch")
    g.add_argument("--accumulation", type=int, default=d.accumulation, help="micro-batches per optimiser step")
    g.add_argument("--negatives", type=int, default=d.negatives, help="hard negatives per query")
    g.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (AdamW)")
    g.add_argument("--warmup", type=float, default=d.warmup, help="warm-up fraction of the steps")
    g.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="learning rate after the warm-up: cosine decay to 0 (published) or linear decay to 0 "
                        "(the first shipped default's)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay")
    g.add_argument("--max-grad-norm", type=float, default=d.max_grad_norm, help="0 disables clipping")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (batch sampling, held-out queries, torch)")
    g = p.add_argument_group("loss")
    g.add_argument("--dense-weight", type=float, default=d.dense_weight, help="weight of the dense InfoNCE loss")
    g.add_argument("--sparse-weight", type=float, default=d.sparse_weight, help="weight of the sparse InfoNCE loss")
    g.add_argument("--tau-dense", type=float, default=d.tau_dense, help="temperature of the dense InfoNCE loss")
    g.add_argument("--tau-sparse", type=float, default=d.tau_sparse, help="temperature of the sparse InfoNCE loss")
    g.add_argument("--no-train-sparse-topk", dest="train_sparse_topk", action="store_false",
                   help="skip the per-position top-k cut of the sparse weights in training")
    g.add_argument("--dense-score", choices=DENSE_FORMS, default=d.dense_score,
                   help="dense training score: mean = (1/K_q) sum_i max_j <q_i, p_j> without clamp (the published "
                        "trainer's); clamped-sum = sum_i max(0, max_j <q_i, p_j>) (the searched score)")
    g.add_argument("--head-bias-quantile", type=float,
                   help="before training, shift the LM head's output bias so that this quantile of the content-token "
                        "logits at the mask positions is 0 (a head whose logits there are all negative gets no "
                        "sparse gradient otherwise)")
    g = p.add_argument_group("data")
    g.add_argument("--mine-depth", type=int, default=d.mine_depth, help="BM25 negatives: candidates per query")
    g.add_argument("--mine-skip", type=int, default=d.mine_skip, help="BM25 negatives: skip the best-ranked N")
    g.add_argument("--bm25-index", help="an existing Lucene index of the corpus (JsonCollection) for mining")
    g.add_argument("--holdout", type=int, default=d.holdout,
                   help="hold out N training queries and report their nDCG@10 (BEIR input)")
    g.add_argument("--eval-every-epoch", action="store_true", help="evaluate the held-out queries after each epoch")
    g.add_argument("--threads", type=int, default=d.threads, help="threads of the BM25 index build (negative mining)")
    g = p.add_argument_group("checkpoints")
    g.add_argument("--save-every", type=int, default=d.save_every, help="optimiser steps between checkpoints (0: per epoch)")
    g.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                   help="training checkpoints kept in --output (older ones are deleted)")
    g.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    options = TrainOptions(**vars(args))

    def train() -> None:
        Trainer(options).run()

    # RuntimeError too: torch reports a device that cannot be used (e.g. CUDA out of memory) with it
    return run_command(train, expected=(*DEFAULT_EXPECTED, RuntimeError),
                       interrupted=lambda: f"the checkpoints saved so far (if any) are in {options.output}; "
                                           f"rerun with --resume to continue")


if __name__ == "__main__":
    sys.exit(main())
