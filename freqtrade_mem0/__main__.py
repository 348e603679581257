"""`python -m freqtrade_mem0`: the command line, where the console script is not on PATH."""

from freqtrade_mem0.cli import main

main()
