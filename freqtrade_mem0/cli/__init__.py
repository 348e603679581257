"""The `freqtrade-mem0` command line.

Exit codes scripts can rely on: 0 success, 1 unexpected failure, 2 bad input or configuration
(fix and retry), 3 not found, 4 store temporarily unavailable or locked (retry later),
5 authentication or permission refused.
"""

from __future__ import annotations

import sys

from freqtrade_mem0.cli.app import cli
from freqtrade_mem0.cli.freqtrade_commands import register as _register_freqtrade
from freqtrade_mem0.cli.history import register as _register_history
from freqtrade_mem0.cli.memories import register as _register_memories
from freqtrade_mem0.cli.security import register as _register_security
from freqtrade_mem0.cli.service import register as _register_service

_register_memories(cli)
_register_freqtrade(cli)
_register_history(cli)
_register_service(cli)
_register_security(cli)

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the `freqtrade-mem0` console script)."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="freqtrade-mem0")
