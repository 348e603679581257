"""SampleStrategy with a memory: every trade it makes is remembered with its market conditions.

Nothing else changes: the signals, ROI and stoploss are SampleStrategy's. Compare the two with
`freqtrade-mem0 backtesting --strategy-list SampleStrategy MemorySampleStrategy ...`.
"""

from sample_strategy import SampleStrategy

from freqtrade_mem0 import Mem0Mixin


class MemorySampleStrategy(Mem0Mixin, SampleStrategy):
    """SampleStrategy whose trades become memories."""
