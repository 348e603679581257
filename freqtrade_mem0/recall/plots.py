"""A recall as a plotly figure: the neighbours it found, and the win rate with its uncertainty.

Left, each past trade recall used: its distance in market-fingerprint space (how alike the
market was) against its profit, sized by its weight, wins and losses in two colours. Right, the
raw win rate with its 95 % Wilson interval, the win rate shrunk toward the strategy's own, and
that prior: a wide interval or a large gap between raw and shrunk says "not much evidence".
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.history.plots import write_history_html

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from freqtrade_mem0.recall.index import RecallResult

WIN, LOSS = "#2ca02c", "#d62728"


def recall_figure(result: RecallResult, *, title: str) -> go.Figure:
    """Draw one recall.

    Raises:
        ConfigError: plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:  # pragma: no cover - plotly ships with freqtrade's plot extra
        raise ConfigError('plots need plotly: pip install "freqtrade-mem0[plot]"') from exc
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.72, 0.28],
        horizontal_spacing=0.1,
        subplot_titles=[
            f"{result.n} similar past trades: profit against market distance",
            "Win rate",
        ],
    )
    neighbours = result.neighbours
    top = max((n.weight for n in neighbours), default=1.0) or 1.0
    for won, colour, name in ((True, WIN, "won"), (False, LOSS, "lost")):
        part = [n for n in neighbours if (n.profit > 0) == won]
        figure.add_trace(
            go.Scatter(
                x=[n.distance for n in part],
                y=[n.profit for n in part],
                mode="markers",
                name=name,
                marker={
                    "color": colour,
                    "size": [8 + 14 * n.weight / top for n in part],
                    "opacity": 0.75,
                },
                customdata=[
                    f"{n.time:%Y-%m-%d %H:%M} {n.pair or '?'} {n.side or '?'}<br>"
                    f"profit {n.profit:+.2f}%, distance {n.distance:.2f}, weight {n.weight:.2f}"
                    for n in part
                ],
                hovertemplate="%{customdata}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    figure.add_hline(y=0.0, line={"color": "#999", "width": 1}, row=1, col=1)
    if math.isfinite(result.typical_distance):
        figure.add_vline(
            x=result.typical_distance,
            line={"color": "#999", "dash": "dot"},
            annotation_text="typical distance",
            row=1,
            col=1,
        )
    figure.update_xaxes(title_text="distance in market-fingerprint space", row=1, col=1)
    figure.update_yaxes(title_text="profit (%)", row=1, col=1)

    rates = [
        ("raw", result.win_rate, result.win_rate_low, result.win_rate_high),
        ("shrunk", result.shrunk_win_rate, None, None),
        ("strategy", result.prior_win_rate, None, None),
    ]
    shown = [(label, rate, low, high) for label, rate, low, high in rates if math.isfinite(rate)]
    figure.add_trace(
        go.Bar(
            x=[label for label, *_ in shown],
            y=[100 * rate for _, rate, *_ in shown],
            marker={"color": ["#1f77b4", "#9467bd", "#7f7f7f"][: len(shown)]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [100 * (h - r) if h is not None else 0 for _, r, _, h in shown],
                "arrayminus": [100 * (r - lo) if lo is not None else 0 for _, r, lo, _ in shown],
            },
            showlegend=False,
            hovertemplate="%{x}: %{y:.0f}%<extra></extra>",
        ),
        row=1,
        col=2,
    )
    figure.update_yaxes(title_text="win rate (%), 95% interval", range=[0, 100], row=1, col=2)
    verdict = "sufficient" if result.sufficient else f"insufficient: {result.reason}"
    figure.update_layout(
        title={
            "text": f"{title}<br><sup>as of {result.at:%Y-%m-%d %H:%M} UTC; effective n "
            f"{result.n_eff:.1f}; expectancy {result.expectancy:+.2f}%; dissimilarity "
            f"{result.dissimilarity:.2f}; {verdict}</sup>",
            "x": 0.01,
        },
        template="plotly_white",
        height=520,
        margin={"l": 70, "r": 30, "t": 110, "b": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "x": 0.0},
    )
    return figure


def write_recall_html(result: RecallResult, path: str | Path, *, title: str) -> Path:
    """Write one recall as a self-contained HTML page (plotly.js inside, no network needed)."""
    return write_history_html(recall_figure(result, title=title), path)
