"""Any transformers masked LM (BERT, RoBERTa, DistilBERT, ModernBERT, ...) as a one-step
masked diffusion model: bidirectional by construction, with a mask token and an LM head."""
from __future__ import annotations

from pathlib import Path

import torch

from .base import Backbone, linear_rows
from .checkpoint import check_tokenizer, check_weights, read_config


class MaskedLMBackbone(Backbone):
    """The encoder body runs over the whole sequence; the LM head only at the mask positions.

    Masked LMs have absolute position embeddings, so batches are right-padded (each text keeps
    positions 0..n-1) and the mask positions are gathered per row.
    """

    kind = "mlm"
    padding_side = "right"

    def __init__(self, model, tokenizer, device, dtype):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(model).__name__}: the tokenizer has no mask token")
        eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        super().__init__(tokenizer, tokenizer.mask_token_id, eos, None, device, dtype)
        self.model = model.to(device).eval()
        self._body, self._head = _split_body_and_head(self.model)

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def hidden_states(self, input_ids, attention_mask):
        return self._body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def lm_head(self, hidden, vocab_ids=None):
        predictions = getattr(getattr(self.model, "cls", None), "predictions", None)
        if predictions is not None and vocab_ids is not None:  # BERT: transform, then only the needed rows
            return linear_rows(predictions.decoder, predictions.transform(hidden), vocab_ids)
        logits = self._head(hidden)
        return logits if vocab_ids is None else logits[..., vocab_ids]


def _split_body_and_head(model):
    """(encoder body, head-at-positions function) for the known masked-LM layouts.

    transformers has no generic "LM head only at these positions" call, so the head is
    picked per architecture here (written by hand for that reason); an unknown layout is
    refused rather than guessed.
    """
    body = getattr(model, "base_model", None)
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BERT family
        return body, model.cls
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R, CamemBERT, ...
        return body, model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        def distilbert_head(h):
            h = model.vocab_layer_norm(model.activation(model.vocab_transform(h)))
            return model.vocab_projector(h)
        return body, distilbert_head
    if hasattr(model, "head") and hasattr(model, "decoder"):  # ModernBERT
        return body, lambda h: model.decoder(model.head(h))
    raise ValueError(
        f"{type(model).__name__}: unknown masked-LM head layout; supported: BERT (cls), RoBERTa (lm_head), "
        f"DistilBERT (vocab_projector), ModernBERT (head + decoder)"
    )


def load_mlm(path: Path, device: torch.device, dtype: torch.dtype) -> MaskedLMBackbone:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    read_config(path)
    check_weights(path)
    check_tokenizer(path, ("tokenizer.json",), ("vocab.txt",), ("vocab.json", "merges.txt"), ("sentencepiece.bpe.model",))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForMaskedLM.from_pretrained(str(path), dtype=dtype)
    return MaskedLMBackbone(model, tokenizer, device, dtype)
