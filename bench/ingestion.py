"""Ingestion: freqtrade backtest result files stored as memories (`freqtrade-mem0 ingest`).

The files are the real ones shipped with the tests (`tests/data/backtest_results`: freqtrade
2024.10 JSON, single- and multi-strategy, and a freqtrade 2026.9 zip), every run of each, with
market fingerprints at each trade's entry from the shipped candles. The floor is reading the
files and building the memory records without storing them; the rest is embedding and the
store. Each store is new and embedded (Qdrant Edge) in a temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Figure, median, progress, timed

BUDGET_SECONDS = 150
HASHING_TARGET = 300.0  # memories/s, with fingerprints, the store included
MINILM_TARGET = 100.0  # memories/s: needs the model at >= ~130 sentences/s (bench/embedding.py)
RESULTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "backtest_results"
CANDLES = Path(__file__).resolve().parent.parent / "user_data_examples" / "data" / "binance"


def run(quick: bool = False) -> list[Figure]:
    """Parse-only floor, ingest with the hashing embedder and with MiniLM, re-ingest."""
    from freqtrade_mem0.embedding import Embedder, HashingEmbedder, MiniLMEmbedder
    from freqtrade_mem0.history.ingest import CandleData, ingest, run_records
    from freqtrade_mem0.history.results import find_result_files, read_result_file
    from freqtrade_mem0.memory import Memory

    repeats = 2
    folders = sorted(p for p in RESULTS.iterdir() if p.is_dir())
    files = find_result_files(folders, every_run=True)
    if not files:
        raise RuntimeError(f"no result files under {RESULTS}")

    def records() -> list[str]:
        candles = CandleData(CANDLES)
        return [
            record.text
            for path in files
            for run in read_result_file(path).runs
            for record in run_records(run, candles=candles)
        ]

    def parse() -> int:
        return len(records())

    texts = records()
    count = len(texts)
    parse_s = median(timed(parse) for _ in range(repeats))
    progress(f"{len(files)} files, {count} memories: parse + fingerprints {parse_s:.2f} s")

    def ingest_into(folder: Path, embedder: Embedder) -> tuple[float, float, int]:
        memory = Memory.open(str(folder), embedder=embedder)
        try:
            first = timed(lambda: ingest(memory, folders, every_run=True, datadir=CANDLES))
            again = timed(lambda: ingest(memory, folders, every_run=True, datadir=CANDLES))
            return first, again, memory.count()
        finally:
            memory.close()

    hashing_runs = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        for number in range(repeats):
            hashing_runs.append(ingest_into(Path(scratch) / f"h{number}", HashingEmbedder()))
        stored = hashing_runs[0][2]
        hashing_s = median(r[0] for r in hashing_runs)
        again_s = median(r[1] for r in hashing_runs)
        progress(f"hashing: {stored / hashing_s:,.0f} memories/s; again {stored / again_s:,.0f}/s")
        minilm = MiniLMEmbedder(batch_size=64)
        minilm.embed(["warm up the model"])  # its load is timed in bench/embedding.py
        embed_s = timed(lambda: minilm.embed(texts))
        minilm_s, minilm_again_s, _ = ingest_into(Path(scratch) / "m", minilm)
        progress(
            f"MiniLM: {stored / minilm_s:,.0f} memories/s; embedding alone {count / embed_s:,.0f}/s"
        )

    floor = f"reading the files and building the records ({count} memories)"
    return [
        Figure(
            "ingest with fingerprints, hashing embedder",
            "memories/s",
            stored / hashing_s,
            better="higher",
            target=HASHING_TARGET,
            peer="parse only",
            peer_value=count / parse_s,
            note=f"{len(files)} shipped result files, every run; median of {repeats}; {floor}",
        ),
        Figure(
            "ingest with fingerprints, all-MiniLM-L6-v2",
            "memories/s",
            stored / minilm_s,
            better="higher",
            target=MINILM_TARGET,
            peer="embedding the same texts alone",
            peer_value=count / embed_s,
            note="the model loaded beforehand; one run; the model's compute is the floor",
        ),
        Figure(
            "ingest the same files again (all already stored)",
            "memories/s",
            stored / again_s,
            better="higher",
            peer="first ingest",
            peer_value=stored / hashing_s,
            note="nothing embedded or written: existing ids are skipped",
        ),
        Figure(
            "ingest again, all-MiniLM-L6-v2",
            "memories/s",
            stored / minilm_again_s,
            better="higher",
            peer="first ingest, MiniLM",
            peer_value=stored / minilm_s,
        ),
    ]
