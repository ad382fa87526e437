"""What every encoder returns, and the input check they share; no torch here, so that the ONNX
query encoder (:mod:`.onnx_encoder`) returns the same type without importing torch."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NORM_EPS = 1e-12  # the eps of torch.nn.functional.normalize, used by every dense side


@dataclass
class EncoderOutput:
    """``dense``: one float32 array ``[k_i, H]`` per text (L2-normalised rows in multi mode);
    ``sparse``: one ``{token: int}`` per text, quantized exactly as written to the index."""

    dense: list[np.ndarray] = field(default_factory=list)
    sparse: list[dict[str, int]] = field(default_factory=list)


EncodedBatch = EncoderOutput  # the name the encoder interface (.base) uses; EncoderOutput stays


def check_texts(texts) -> list[str]:
    """``texts`` as a list of str, or one clear TypeError (a single string, bytes, non-str)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("encode() takes a list of texts, not a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str (decode bytes as UTF-8 first)")
    return texts
