"""The encoder of a released fine-tuned DiffRetriever checkpoint (docs/method.md section 7b).

:class:`ReleaseEncoder` is :class:`~.encoder.DiffRetrieverEncoder` on the merged backbone of
:func:`~pyserini_diffretriever.backbones.release.load_release_backbone`, with the input laid
out as the official fine-tuned path (``TrainableDiffusionRetriever.tokenize``) lays it out:

    [prefix ids as stored][text, cut to max_length - len(prefix) - len(suffix)]
    [suffix ids as stored][mask id from retriever_config.json] x K [tail of n_tail tokens]

Everything else is the shared encoder: dense = the K mask hidden states, L2-normalised;
sparse = ``log(1 + relu(logits))`` over the text's content tokens, top-k per position, max
over K, x100. The official fine-tuned encode path (``scripts/encode.py`` with the trainable
model) rounds the weights and applies no stop-token truncation; the bundled release configs
say so (``quantization: round``, ``stop_token_truncation: false``). Its length limit is the
encode command's ``--max_length`` (it replaces the stored ``max_length``): here the config's
``max_length_query`` / ``max_length_passage`` play that part, over the whole prompt as there
(a warning names the stored value when they differ).

K_q, K_p and the number of denoising passes are properties of the trained model: the encoder
config must state the release's values (else one error naming both). With
``num_denoise_steps`` S > 1 the fine-tuned model's own S-pass schedule runs
(:func:`official_multistep`; it differs from the zero-shot schedule). Releases with
``normalize: false`` are refused with a clear message.
"""
from __future__ import annotations

import logging

import torch

from ..backbones.release import load_release_backbone
from ..config import ConfigError, EncoderConfig
from .encoder import DiffRetrieverEncoder, MaskStates
from .layout import SequenceBuilder

logger = logging.getLogger(__name__)


class ReleaseSequenceBuilder(SequenceBuilder):
    """A :class:`SequenceBuilder` whose prompt ids and tail come from the release."""

    def __init__(self, backbone, config: EncoderConfig, is_query: bool) -> None:
        super().__init__(backbone, config.prompt(is_query), config.k(is_query), config.max_length(is_query),
                         config.count_masks_in_length)
        settings = backbone.release
        self.prefix_ids, self.suffix_ids = settings.prompt_ids(is_query)
        quote = self.tokenizer('"', add_special_tokens=False)["input_ids"]
        self.tail_ids = settings.tail_ids(quote, backbone.end_of_turn_id, backbone.eos_token_id)
        budget = config.max_length(is_query) - len(self.prefix_ids) - len(self.suffix_ids)
        if config.count_masks_in_length:
            budget -= self.k + len(self.tail_ids)
        if budget < 1:
            raise ValueError(f"max_length {config.max_length(is_query)} leaves no room for text: the stored prompt of "
                             f"release {settings.path} takes {len(self.prefix_ids) + len(self.suffix_ids)} tokens")
        self.text_budget = budget


def check_release_config(config: EncoderConfig, settings) -> None:
    """The encoder config must describe the trained model of the release."""
    where = f"encoder config {config.source} for release {settings.path}"
    for field, stored, key in (("kq", settings.kq, "n_gen_q_tokens"), ("kp", settings.kp, "n_gen_p_tokens")):
        if getattr(config, field) != stored:
            raise ConfigError(f"{where}: {field} is {getattr(config, field)!r} but the release was trained with "
                              f"{stored} (retriever_config.json {key}); set {field}: {stored}")
    if not settings.normalize:
        raise ConfigError(f"{where}: retriever_config.json has normalize false; only L2-normalised dense vectors "
                          f"are supported")
    if config.denoising_steps != settings.num_denoise_steps:
        raise ConfigError(f"{where}: denoising_steps is {config.denoising_steps} but the release encodes in "
                          f"{settings.num_denoise_steps} pass(es) (retriever_config.json num_denoise_steps, capped at "
                          f"the larger K); set denoising_steps: {settings.num_denoise_steps}")
    for side in (True, False):
        if config.max_length(side) != settings.max_length:
            logger.warning("%s: max_length_%s %d is used as the whole-prompt limit; the release stores max_length %d",
                           where, "query" if side else "passage", config.max_length(side), settings.max_length)


class ReleaseEncoder(DiffRetrieverEncoder):
    """DiffRetriever on a released fine-tuned checkpoint (``config.checkpoint``, the release
    folder or Hub id) merged into ``config.base_checkpoint``."""

    def __init__(self, config: EncoderConfig, backbone=None) -> None:
        if backbone is None:
            backbone = load_release_backbone(config.checkpoint, config.base_checkpoint, config.backbone,
                                             device=config.device, dtype=config.dtype)
        if getattr(backbone, "release", None) is None:
            raise ValueError("ReleaseEncoder needs a backbone loaded by load_release_backbone")
        check_release_config(config, backbone.release)
        super().__init__(config, backbone=backbone)
        self._builders = {side: ReleaseSequenceBuilder(backbone, config, side) for side in (True, False)}

    def mask_states(self, texts: list[str], is_query: bool, full_vocabulary: bool = False) -> MaskStates:
        """One pass: the shared encoder. S > 1 passes: the official fine-tuned schedule
        (:func:`official_multistep`); its sparse side is the max-pooled vocabulary row, so the
        logits come back as ``[B, 1, V]`` (top-k is then taken after pooling, as there)."""
        steps = self.backbone.release.num_denoise_steps
        if steps == 1:
            return super().mask_states(texts, is_query, full_vocabulary)
        batch = self.builder(is_query).batch(texts)
        hidden, pooled = official_multistep(self.backbone, batch.input_ids, batch.attention_mask,
                                            batch.mask_positions, steps)
        return MaskStates(hidden=hidden, logits=pooled.unsqueeze(1),
                          kept=torch.full((len(texts),), hidden.shape[1], dtype=torch.long))


def official_multistep(backbone, input_ids, attention_mask, positions, steps: int):
    """The fine-tuned model's S-pass denoising (``TrainableDiffusionRetriever.encode``, S > 1):
    ``max(1, K // S)`` masks unmasked per pass, the most confident by negative entropy, all the
    rest at the last pass; each position's hidden state is the one of the pass that unmasks it,
    and the sparse row is the max over positions of ``log(1 + relu(logits))`` at that pass,
    top-k taken after the pooling (``scripts/encode.py``'s path for pooled activations).
    Returns hidden ``[B, K, H]`` and the logits max-pooled that way ``[B, V]`` (float32)."""
    rows, k = positions.shape
    per_step = max(1, k // steps)
    ids = input_ids.clone()
    masked = torch.ones((rows, k), dtype=torch.bool)
    hidden_out = pooled = None
    for step in range(steps):
        out = backbone.forward_at(ids, attention_mask, positions)
        hidden, logits = out.hidden.cpu(), out.logits.cpu()
        if hidden_out is None:
            hidden_out = torch.zeros_like(hidden)
            pooled = torch.full((rows, logits.shape[-1]), float("-inf"))
        probs = torch.softmax(logits.float(), dim=-1)
        confidence = (probs * torch.log(probs + 1e-10)).sum(-1).masked_fill(~masked, float("-inf"))
        prediction = probs.argmax(-1)
        if step == steps - 1:
            chosen = masked.clone()
        else:
            chosen = torch.zeros_like(masked)
            chosen.scatter_(1, confidence.topk(min(per_step, k), dim=1).indices, True)
            chosen &= masked
        hidden_out[chosen] = hidden[chosen]
        # max_k log(1 + relu(z_k)) = log(1 + relu(max_k z_k)): pool the logits, the sparse
        # encoder applies the activation
        pooled = torch.maximum(pooled, logits.float().masked_fill(~chosen.unsqueeze(-1), float("-inf")).max(dim=1).values)
        ids[chosen.nonzero(as_tuple=True)[0], positions[chosen]] = prediction[chosen]
        masked &= ~chosen
    return hidden_out, pooled
