"""SampleStrategy that learns from its own trades while it runs.

Before each entry it recalls how its past trades did in market conditions like the ones now
(`mem0_recall`), using only trades that had closed by then, so a backtest sees exactly what a
live bot would have seen. It then

- skips the entry when the evidence is sufficient and says this kind of market lost money:
  an expectancy below zero and an upper win-rate bound (Wilson, 90 %) under 50 %;
- sizes the stake by the shrunk win rate: from half the stake (shrunk win rate 0.3 or less) to
  one and a half times it (0.7 or more), and the plain stake while evidence is insufficient.

`SampleStrategy` is its baseline twin: same signals, ROI and stoploss, no memory.
`make demo` backtests both and prints them side by side.
"""

from collections import Counter
from datetime import datetime
from typing import Any

from sample_strategy import SampleStrategy

from freqtrade_mem0 import Mem0Mixin


class LearningSampleStrategy(Mem0Mixin, SampleStrategy):
    """SampleStrategy gated and sized by recall of its own past trades."""

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        # Entry decisions of this run, by reason: read by `make demo`.
        self.mem0_decisions: Counter[str] = Counter()

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        if not super().confirm_trade_entry(
            pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kwargs
        ):
            return False
        recall = self.mem0_recall(pair, current_time, filters=f"side:{side}")
        if not recall.sufficient:
            self.mem0_decisions["entered: evidence insufficient"] += 1
            return True
        if recall.expectancy < 0:
            self.mem0_decisions["blocked: similar markets lost money"] += 1
            return False
        self.mem0_decisions["entered: similar markets made money"] += 1
        return True

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        recall = self.mem0_recall(pair, current_time, filters=f"side:{side}")
        if not recall.sufficient:
            return proposed_stake
        scale = min(max(0.5 + 2.5 * (recall.shrunk_win_rate - 0.3), 0.5), 1.5)
        return min(proposed_stake * scale, max_stake)
