"""Embedders: the real model knows meaning; the stand-in is deterministic and fast."""

from __future__ import annotations

import numpy as np
import pytest

from freqtrade_mem0.embedding import HashingEmbedder, MiniLMEmbedder, make_embedder
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
