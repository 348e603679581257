"""Benchmarks: `make bench` (`python -m bench.run_all`) runs every script here.

Each script exposes `run(quick: bool = False) -> list[Figure]` (see `bench.common` and
`bench/README.md`). Results go to `bench/results.md` and `bench/results.json`.
"""
