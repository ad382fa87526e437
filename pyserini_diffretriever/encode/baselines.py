"""The baselines of the paper's comparison (docs/method.md section 6), encoders of the one
interface (:class:`~pyserini_diffretriever.encode.base.EncoderProtocol`): ``Encoder(config,
backbone=None)``, ``encode(texts, is_query=False, batch_size=None) -> EncodedBatch``, and
``name``, ``config``, ``kq``, ``kp``, ``dimension``, ``fingerprint``, ``backbone``. Build them
from a config with :func:`pyserini_diffretriever.encode.factory.build_encoder`.

``DiffEmbedEncoder`` (method ``diffembed``; backbone dream / llada / mlm)
    The raw text, tokenized by the backbone tokenizer with the special tokens it adds
    itself (BERT: ``[CLS] ... [SEP]``; Dream and the LLaDA files add none), truncated to
    the side's ``max_length`` tokens; no prompt, no masks. One bidirectional pass; the mean
    of the last hidden states (after the final norm) over the real (non-padding) tokens,
    the token count clamped at 1 as in the official pooling (an empty text in a padded batch
    gives the zero vector, never NaN), L2-normalised: one vector per text. No sparse side
    (``sparse`` is ``{}`` per text).

``PromptRepsEncoder`` (method ``promptreps``; backbone qwen2 / llama, or dream run causally)
    The DiffRetriever prompt (same prompt files, same chat-template route as
    :func:`~pyserini_diffretriever.encode.layout.render_prompt`, assistant prefix included;
    the one-word prompt when the side's K is 1, the few-words prompt otherwise), then greedy
    decoding with a KV cache. Step t (t = 0, 1, ...) reads the last input position (the
    prompt's last token at t = 0, the token generated at step t-1 after that): its
    last-layer hidden state h_t and its next-token logits z_t form representation t, scored
    exactly like a DiffRetriever mask position (dense: h_t L2-normalised, MaxSim over steps;
    sparse: :class:`SparseEncoder` over the stacked z_t, max-pooled over steps). The token
    generated at step t is argmax z_t.

    Stop rule (the official one, docs/method.md section 6): the stop set is the tokenizer's
    special ids (:func:`~pyserini_diffretriever.backbones.base.standard_special_ids`, what
    the official code's ``all_special_ids`` holds: EOS, the chat template's special tokens
    such as ``<|im_start|>`` / ``<|im_end|>``) plus the id of the single token ``"`` (a token
    that merely contains a quote, such as ``".``, does not stop). Decoding of a text ends at
    the first step whose argmax (the token it would generate) is a stop: the representation
    of that step, whose logits predict the stop, IS kept, and the stop token is never fed
    back. So a text has between 1 and N (``max_new_tokens``) representations: a stop
    predicted at step t keeps t + 1. ``ignore_stop=True`` decodes exactly N steps for every
    text and keeps them all (latency benchmarks).

    Single representation: when the side's K is 1 only step 0 is used (the next-token
    prediction after ``The word is: "``, the original PromptReps single-token setting) and
    decoding stops there; with ``pooling: mean`` the kept steps' normalised vectors are
    averaged (not renormalised), as in DiffRetriever. K > 1 only selects the few-words prompt
    and the multi-representation mode: the number of representations is set by the stop rule
    and N, not by K.

    Batches decode together (left-padded, one KV cache); a sequence that has stopped is fed
    its pad token until the whole batch has stopped or N steps are done, and its later steps
    are discarded.

``RepLlamaEncoder`` (method ``repllama``; backbone qwen2 / llama, or dream run causally)
    ``"query: " + text`` / ``"passage: " + text`` tokenized with the tokenizer's own special
    tokens (Llama-3 prepends ``<|begin_of_text|>``; Qwen2.5 adds nothing) and truncated to
    ``max_length - 1`` tokens, then the tokenizer's EOS token appended (Qwen2.5-Instruct
    ``<|im_end|>``, Llama-3-Instruct ``<|eot_id|>``); one causal pass; the EOS position's
    last hidden state, L2-normalised: one vector per text. No sparse side. (RepLLaMA's
    weights are a contrastive fine-tune; pointing it at an instruct checkpoint gives the
    zero-shot version of the same readout.)

Single-vector encoders report ``kq == kp == 1`` (vectors per text) and ``has_sparse`` False:
their ``sparse`` lists hold one empty dict per text, so call sites should skip writing a
sparse collection for them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..backbones.base import Backbone, standard_special_ids
from ..backbones.causal import CausalBackbone, causal_view, load_causal
from ..backbones.loader import load_backbone
from ..config import EncoderConfig, PromptTemplate
from .base import EncoderBase
from .layout import render_prompt
from .results import NORM_EPS
from .sparse import SparseEncoder

DIFFEMBED_BACKBONES = ("dream", "llada", "mlm")
CAUSAL_BACKBONES = ("qwen2", "llama", "dream")
REPLLAMA_PREFIXES = ("query: ", "passage: ")


def _normalise(hidden: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(hidden.float(), p=2, dim=-1, eps=NORM_EPS)


def _pad(sequences: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` ``[B, T]`` padded on ``side``."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        start = width - len(ids) if side == "left" else 0
        input_ids[row, start: start + len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, start: start + len(ids)] = 1
    return input_ids, attention_mask


def _load_causal_backbone(config: EncoderConfig, method: str):
    if config.backbone not in CAUSAL_BACKBONES:
        raise ValueError(
            f"encoder config {config.source}: method {method} runs an autoregressive backbone "
            f"({', '.join(CAUSAL_BACKBONES)}; dream is run with causal attention), got {config.backbone!r}"
        )
    return load_causal(config.backbone, config.checkpoint, device=config.device, dtype=config.dtype)


def _as_causal(backbone):
    return backbone if isinstance(backbone, CausalBackbone) else causal_view(backbone)


class _BaselineEncoder(EncoderBase):
    """A baseline: the config's method must be the class's."""

    method = "baseline"

    def __init__(self, config: EncoderConfig, backbone: Backbone | None = None) -> None:
        if config.method != self.method:
            raise ValueError(f"encoder config {config.source}: method is {config.method!r}, "
                             f"{type(self).__name__} implements {self.method!r}")
        self.config = config
        self.backbone = backbone


class _SingleVectorEncoder(_BaselineEncoder):
    """One vector per text whatever the config's K, and no sparse side (DiffEmbed, RepLLaMA)."""

    has_sparse = False

    @property
    def kq(self) -> int:
        return 1

    @property
    def kp(self) -> int:
        return 1


# ---------------------------------------------------------------------------- DiffEmbed
class DiffEmbedEncoder(_SingleVectorEncoder):
    """Mean-pooled last hidden states of the raw text, one bidirectional pass (see the module
    docstring)."""

    method = "diffembed"

    def __init__(self, config: EncoderConfig, backbone: Backbone | None = None) -> None:
        super().__init__(config, backbone)
        if backbone is None:
            if config.backbone not in DIFFEMBED_BACKBONES:
                raise ValueError(f"encoder config {config.source}: DiffEmbed reads a bidirectional backbone "
                                 f"({', '.join(DIFFEMBED_BACKBONES)}), got {config.backbone!r}")
            self.backbone = load_backbone(config.backbone, config.checkpoint, device=config.device, dtype=config.dtype)
        elif getattr(backbone, "causal", False):
            raise ValueError("DiffEmbed reads a bidirectional backbone; got a causal one")

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        """The tokenizer's ids of the raw text, with the special tokens it adds itself,
        truncated to the side's max_length (special tokens counted). Special-token strings
        inside the text are split like ordinary text."""
        tokenizer = self.backbone.tokenizer
        return tokenizer(text, add_special_tokens=True, split_special_tokens=True, truncation=True,
                         max_length=self.config.max_length(is_query), verbose=False)["input_ids"]

    def batch(self, texts: list[str], is_query: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return _pad([self.token_ids(t, is_query) for t in texts], self.backbone.pad_token_id, self.backbone.padding_side)

    @torch.inference_mode()
    def pooled(self, texts: list[str], is_query: bool) -> torch.Tensor:
        """Mean of the last hidden states over the real tokens (count clamped at 1), ``[B, H]``
        float32 (not normalised)."""
        input_ids, attention_mask = self.batch(texts, is_query)
        attention_mask = attention_mask.to(self.backbone.device)
        states = self.backbone.hidden_states(input_ids.to(self.backbone.device), attention_mask).float()
        weights = attention_mask.unsqueeze(-1).float()
        return ((states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)).cpu()

    def encode_batch(self, texts, is_query):
        vectors = _normalise(self.pooled(texts, is_query)).numpy()
        return [v[None, :].astype(np.float32) for v in vectors], [{} for _ in texts]


# ---------------------------------------------------------------------------- RepLLaMA
class RepLlamaEncoder(_SingleVectorEncoder):
    """The end-of-sequence hidden state of one causal pass over ``prefix + text + EOS``."""

    method = "repllama"

    def __init__(self, config: EncoderConfig, backbone: Backbone | None = None,
                 query_prefix: str = REPLLAMA_PREFIXES[0], passage_prefix: str = REPLLAMA_PREFIXES[1]) -> None:
        super().__init__(config, backbone)
        self.backbone = _as_causal(backbone) if backbone is not None else _load_causal_backbone(config, self.method)
        self.prefixes = {True: query_prefix, False: passage_prefix}

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        """``prefix + text`` with the tokenizer's own special tokens, truncated to
        ``max_length - 1``, then EOS."""
        tokenizer = self.backbone.tokenizer
        budget = self.config.max_length(is_query) - 1
        if budget < 1:
            raise ValueError(f"max_length {budget + 1} leaves no room for text")
        ids = tokenizer(self.prefixes[is_query] + text, add_special_tokens=True, split_special_tokens=True,
                        truncation=True, max_length=budget, verbose=False)["input_ids"]
        return list(ids) + [self.backbone.eos_token_id]

    @torch.inference_mode()
    def last_hidden(self, texts: list[str], is_query: bool) -> torch.Tensor:
        """The EOS position's last-layer state ``[B, H]`` float32 (left padding: the last column)."""
        input_ids, attention_mask = _pad([self.token_ids(t, is_query) for t in texts],
                                         self.backbone.pad_token_id, "left")
        return self.backbone.hidden_states(input_ids, attention_mask)[:, -1].float().cpu()

    def encode_batch(self, texts, is_query):
        vectors = _normalise(self.last_hidden(texts, is_query)).numpy()
        return [v[None, :].astype(np.float32) for v in vectors], [{} for _ in texts]


# ---------------------------------------------------------------------------- PromptReps
@dataclass
class DecodeTrace:
    """What a batched greedy decode produced, per text and step (steps past a text's stop
    are padding): ``hidden`` ``[B, S, H]`` float32, ``logits`` ``[B, S, V]`` (or ``[B, S, U]``
    with ``columns`` mapping vocabulary id -> column), the generated tokens ``[B, S]`` (-1
    where nothing was generated for the text), and ``kept`` ``[B]``: how many leading steps
    are representations."""

    hidden: torch.Tensor
    logits: torch.Tensor
    tokens: torch.Tensor
    kept: torch.Tensor
    columns: dict[int, int] | None = None


class PromptBuilder:
    """``[chat prefix][text][chat suffix + assistant prefix]`` token ids for one side: the
    DiffRetriever layout (layout.SequenceBuilder) without the masks and the tail. Only the
    text is truncated, to ``max_length`` minus the prompt (``count_masks_in_length`` has no
    counterpart here: generated tokens are not part of the input budget)."""

    def __init__(self, tokenizer, prompt: PromptTemplate, max_length: int) -> None:
        self.tokenizer = tokenizer
        prefix, suffix = render_prompt(tokenizer, prompt)
        self.prefix_ids = self._ids(prefix, split_special=False)
        self.suffix_ids = self._ids(suffix, split_special=False)
        self.text_budget = max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if self.text_budget < 1:
            raise ValueError(f"max_length {max_length} leaves no room for text: the prompt takes "
                             f"{len(self.prefix_ids) + len(self.suffix_ids)} tokens")

    def _ids(self, text: str, split_special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=split_special,
                              verbose=False)["input_ids"]

    def text_ids(self, text: str) -> list[int]:
        return self._ids(text, split_special=True)[: self.text_budget]

    def sequence(self, text: str) -> list[int]:
        return self.prefix_ids + self.text_ids(text) + self.suffix_ids


def promptreps_stop_ids(tokenizer) -> frozenset[int]:
    """The official PromptReps stop set: the tokenizer's special ids plus the id(s) that
    ``"`` alone encodes to (one token in the Qwen2.5 and Llama-3 vocabularies)."""
    quote = tokenizer('"', add_special_tokens=False)["input_ids"]
    return frozenset(standard_special_ids(tokenizer) | {int(i) for i in quote})


class PromptRepsEncoder(_BaselineEncoder):
    """Greedy decoding after the DiffRetriever prompt; one representation per step (see the
    module docstring for the stop rule).

    Parameters
    ----------
    config : an EncoderConfig with method ``promptreps`` (``max_new_tokens`` is N).
    backbone : a loaded causal backbone (or a Dream backbone, then run causally).
    ignore_stop : decode exactly N steps and keep them all (latency benchmarks).
    use_cache : decode with the KV cache (default); False recomputes the whole sequence at
        every step (same results; for benchmarks and checks).
    """

    method = "promptreps"
    has_sparse = True

    def __init__(self, config: EncoderConfig, backbone: Backbone | None = None, ignore_stop: bool = False,
                 use_cache: bool = True) -> None:
        super().__init__(config, backbone)
        self.backbone = _as_causal(backbone) if backbone is not None else _load_causal_backbone(config, self.method)
        self.ignore_stop, self.use_cache = ignore_stop, use_cache
        tokenizer = self.backbone.tokenizer
        # No mask token: exclude EOS (already special) in its place.
        self.sparse_encoder = SparseEncoder(tokenizer, self.backbone.eos_token_id, config.sparse_topk,
                                            config.quantization_scale, config.quantization)
        self._builders = {side: PromptBuilder(tokenizer, config.prompt(side), config.max_length(side))
                          for side in (True, False)}
        self.stop_token_ids = promptreps_stop_ids(tokenizer)

    def steps(self, is_query: bool) -> int:
        """Decoding steps at most: N, or 1 for a single representation (K = 1)."""
        if self.config.k(is_query) == 1 and not self.ignore_stop:
            return 1
        return self.config.max_new_tokens

    @torch.inference_mode()
    def decode(self, texts: list[str], is_query: bool, full_vocabulary: bool = False) -> DecodeTrace:
        """Batched greedy decoding of ``texts`` after the prompt (see :class:`DecodeTrace`).

        Unless ``full_vocabulary``, only the logits of the texts' content tokens are kept
        (the sparse vector reads nothing else); the argmax always sees the whole vocabulary."""
        backbone = self.backbone
        device = backbone.device
        input_ids, attention_mask = _pad([self.builder(is_query).sequence(t) for t in texts], backbone.pad_token_id, "left")
        columns = vocab_ids = None
        if not full_vocabulary:
            union = sorted(set().union(*(self.sparse_encoder.vocabulary.ids(t) for t in texts)))
            columns = {token: column for column, token in enumerate(union)}
            vocab_ids = torch.tensor(union, dtype=torch.long, device=device)
        stops = torch.tensor(sorted(self.stop_token_ids), dtype=torch.long, device=device)
        batch = len(texts)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        kept = torch.zeros(batch, dtype=torch.long, device=device)
        hiddens, logits_kept, tokens = [], [], []
        state = None
        sequence, mask = input_ids.to(device), attention_mask.to(device)
        steps = self.steps(is_query)
        for step in range(steps):
            if self.use_cache and step == 0:
                state = backbone.prefill(sequence, mask)
                hidden = state.hidden
            elif self.use_cache:
                hidden = backbone.decode(state, next_tokens)
            else:
                hidden = backbone.hidden_states(sequence, mask)[:, -1]
            logits = backbone.lm_head(hidden)  # [B, V]: the argmax needs the whole vocabulary
            generated = logits.argmax(dim=-1)
            active = ~finished
            is_stop = torch.isin(generated, stops) if not self.ignore_stop else torch.zeros_like(active)
            kept += active.long()  # the step whose logits predict the stop is kept
            hiddens.append(hidden.float())
            logits_kept.append((logits if vocab_ids is None else logits[:, vocab_ids]).float())
            tokens.append(torch.where(active, generated, torch.full_like(generated, -1)))
            finished |= active & is_stop
            if bool(finished.all()) or step == steps - 1:
                break
            next_tokens = torch.where(finished, torch.full_like(generated, backbone.pad_token_id), generated)
            if not self.use_cache:
                sequence = torch.cat([sequence, next_tokens[:, None]], dim=1)
                mask = torch.cat([mask, torch.ones_like(next_tokens[:, None])], dim=1)
        return DecodeTrace(hidden=torch.stack(hiddens, dim=1).cpu(), logits=torch.stack(logits_kept, dim=1).cpu(),
                           tokens=torch.stack(tokens, dim=1).cpu(), kept=kept.cpu(), columns=columns)

    def encode_batch(self, texts, is_query):
        trace = self.decode(texts, is_query)
        dense, sparse = [], []
        for row, text in enumerate(texts):
            n = int(trace.kept[row])
            vectors = _normalise(trace.hidden[row, :n])
            if self.config.pooling == "mean":
                vectors = vectors.mean(dim=0, keepdim=True)  # not renormalised (as DiffRetriever)
            dense.append(vectors.numpy().astype(np.float32, copy=False))
            sparse.append(self.sparse_encoder.encode(trace.logits[row, :n], text, trace.columns))
        return dense, sparse


__all__ = ["DecodeTrace", "DiffEmbedEncoder", "PromptBuilder", "PromptRepsEncoder", "RepLlamaEncoder"]
