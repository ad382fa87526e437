"""Contrastive fine-tuning of DiffRetriever encoders (docs/method.md section 5).

    python -m pyserini_diffretriever.train --encoder diffretriever-splade-tiny \
        --train ../shared/data/scifact --split train --output runs/ft/splade-tiny-scifact

InfoNCE over each query's positive, its hard negatives (given, or mined with BM25 through
Pyserini) and the other passages of the batch: dense loss on the MaxSim score (tau 0.01),
sparse loss on the unquantized sparse score (tau 1), loss = dense + sparse. LoRA (peft;
r 16, alpha 64) or full fine-tuning. The output folder holds the checkpoint and an encoder
YAML usable at once (``--encoder OUTPUT/encoder.yaml``).
"""
from .data import BatchSampler, Example, Passage, TrainBatch, load_training_data, read_beir, read_tevatron, read_triples
from .losses import dense_scores, info_nce, sparse_scores, sparse_weights
from .model import ContrastiveModel, Objective
from .trainer import TrainOptions, Trainer

__all__ = [
    "BatchSampler", "ContrastiveModel", "Example", "Objective", "Passage", "TrainBatch", "TrainOptions", "Trainer",
    "dense_scores", "info_nce", "load_training_data", "read_beir", "read_tevatron", "read_triples",
    "sparse_scores", "sparse_weights",
]
