"""Embedders: the real model knows meaning; the stand-in is deterministic and fast."""

from __future__ import annotations

import numpy as np
import pytest

from freqtrade_mem0.embedding import HashingEmbedder, MiniLMEmbedder, make_embedder, on_one_core
from freqtrade_mem0.errors import ConfigError


@pytest.mark.slow
@pytest.mark.integration
def test_real_model_scores_a_paraphrase_closer_than_an_unrelated_sentence() -> None:
    model = MiniLMEmbedder()
    anchor, paraphrase, unrelated = model.embed(
        [
            "the long trade lost money after a sudden spike in volume",
            "a buy position ended in a loss following a surge of trading volume",
            "the weather in Lisbon is sunny with a light breeze",
        ]
    )
    assert anchor.shape == (384,)
    assert np.linalg.norm(anchor) == pytest.approx(1.0, abs=1e-5)
    assert float(anchor @ paraphrase) > float(anchor @ unrelated) + 0.2


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    first = HashingEmbedder().embed(["ADA/BTC long closed +2.31%", ""])
    second = HashingEmbedder().embed(["ADA/BTC long closed +2.31%", ""])
    assert np.array_equal(first, second)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0)


def test_hashing_embedder_prefers_shared_words() -> None:
    a, b, c = HashingEmbedder().embed(["volume spike reversal", "a volume spike", "quiet range"])
    assert float(a @ b) > float(a @ c)


def test_empty_batch() -> None:
    assert HashingEmbedder().embed([]).shape == (0, 384)


def test_unknown_embedder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="minilm"):
        make_embedder("word2vec")


@pytest.mark.slow
@pytest.mark.integration
def test_real_model_gives_sentence_transformers_own_vectors() -> None:
    # The embedder runs the model as one traced graph; its vectors must be the library's.
    model = MiniLMEmbedder(batch_size=4)
    texts = [
        "ADA/BTC long closed +2.31% after 3h10m by roi; entry in a rising market, RSI 71",
        "short",
        "",
        "a long text that runs past the model's window " * 40,
        "losing longs after a volume spike",
        "ETH/USDT short closed -1.20% by stop_loss",
    ]
    ours = model.embed(texts)
    assert model._model is not None
    assert type(model._model).__name__ == "_TracedSentenceModel"
    library = model._model.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(ours, library, atol=1e-5)


def test_on_one_core_runs_the_model_on_one_thread_and_restores_the_count() -> None:
    torch = pytest.importorskip("torch")
    seen: list[int] = []

    class CountingModel:
        def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
            seen.append(torch.get_num_threads())
            return np.zeros((len(texts), 384), dtype=np.float32)

    embedder = MiniLMEmbedder()
    embedder._model = CountingModel()
    before = torch.get_num_threads()
    with on_one_core():
        embedder.embed(["beside a backtest"])
    embedder.embed(["on its own"])
    assert seen == [1, before]
    assert torch.get_num_threads() == before
