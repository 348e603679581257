"""The history as a plotly figure: profit, win rate and drawdown per run, and profit per pair.

plotly is what freqtrade's own plotting uses (`freqtrade plot-dataframe`, `plot-profit`); it is an
optional dependency here (`pip install "freqtrade-mem0[plot]"`), imported only when drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from freqtrade_mem0.errors import ConfigError

if TYPE_CHECKING:
    import plotly.graph_objects as go

# Series drawn per run: column, panel title, factor to percent, hover format.
PANELS = (
    ("profit", "Total profit (% of starting balance)", 1.0),
    ("win_rate", "Win rate (%)", 100.0),
    ("drawdown", "Max drawdown (%, deeper is lower)", 1.0),
)
HEATMAP_TITLE = "Profit per pair and run (% of starting balance)"
_ROW_HEIGHT = 260
_PAIR_HEIGHT = 26
_GAP = 75  # between panels: room for the time axis below one and the title above the next


def run_label(when: pd.Timestamp, run_id: str, strategy: str, many_strategies: bool) -> str:
    """A heatmap column's label: the run's time and id, and its strategy when several are drawn."""
    label = f"{when:%Y-%m-%d %H:%M}<br>{run_id[:8]}"
    return f"{label}<br>{strategy}" if many_strategies else label


def history_figure(
    runs: pd.DataFrame, pairs: pd.DataFrame, *, title: str | None = None
) -> go.Figure:
    """Draw a history: three panels of metrics per run over time, and a per-pair heatmap.

    Args:
        runs: `history_frame(..., per="run")`.
        pairs: `history_frame(..., per="pair")`.
        title: the figure's title (default: the strategies drawn).

    Raises:
        ConfigError: plotly is not installed, or there is nothing to draw.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:  # pragma: no cover - plotly ships with freqtrade's plot extra
        raise ConfigError('plots need plotly: pip install "freqtrade-mem0[plot]"') from exc
    if runs.empty:
        raise ConfigError("no backtest runs to draw")
    strategies = list(dict.fromkeys(runs["strategy"]))
    heat = _heatmap_matrix(runs, pairs, many=len(strategies) > 1)
    pair_rows = max(len(heat.index), 1)  # one row per pair in the heatmap
    heat_height = max(_ROW_HEIGHT, 90 + _PAIR_HEIGHT * pair_rows)
    heights = [_ROW_HEIGHT] * len(PANELS) + [heat_height]
    figure = make_subplots(
        rows=len(heights),
        cols=1,
        row_heights=[h / sum(heights) for h in heights],
        vertical_spacing=_GAP / sum(heights),
        subplot_titles=[p[1] for p in PANELS] + [HEATMAP_TITLE],
    )
    colours = _palette(len(strategies))
    for name, colour in zip(strategies, colours, strict=True):
        part = runs[runs["strategy"] == name]
        hover = _hover(part)
        for row, (column, _, factor) in enumerate(PANELS, start=1):
            figure.add_trace(
                go.Scatter(
                    x=part["when"],
                    y=part[column].astype(float) * factor,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    line={"color": colour, "width": 2},
                    marker={"size": 8},
                    customdata=hover,
                    hovertemplate="%{customdata}<extra>" + name + "</extra>",
                ),
                row=row,
                col=1,
            )
    for row in range(1, len(PANELS) + 1):
        figure.update_xaxes(matches="x", showticklabels=True, row=row, col=1)
    figure.update_yaxes(zeroline=True, zerolinecolor="#999", row=1, col=1)
    figure.update_yaxes(autorange="reversed", row=3, col=1)  # deeper drawdowns further down
    if not heat.empty:
        figure.add_trace(_heatmap(go, heat), row=len(heights), col=1)
        columns = heat["profit"].shape[1]
        figure.update_xaxes(
            type="category", tickangle=0 if columns <= 8 else -45, row=len(heights), col=1
        )
        figure.update_yaxes(type="category", autorange="reversed", row=len(heights), col=1)
    figure.update_layout(
        title={"text": title or "Backtest history: " + ", ".join(strategies), "x": 0.01},
        template="plotly_white",
        height=sum(heights) + _GAP * (len(heights) - 1) + 170,
        margin={"l": 90, "r": 40, "t": 110, "b": 90},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
        hoverlabel={"align": "left"},
    )
    return figure


def write_history_html(figure: go.Figure, path: str | Path) -> Path:
    """Write a figure as one self-contained HTML file (plotly.js inside, no network needed)."""
    target = Path(path)
    figure.write_html(target, include_plotlyjs=True, full_html=True)
    return target


def _palette(count: int) -> list[str]:
    import plotly.colors

    base: list[str] = list(plotly.colors.qualitative.D3)
    return [base[i % len(base)] for i in range(count)]


def _hover(part: pd.DataFrame) -> list[str]:
    def fmt(value: Any, spec: str, scale: float = 1.0) -> str:
        return "n/a" if value is None or pd.isna(value) else format(float(value) * scale, spec)

    lines = []
    for row in part.to_dict("records"):
        text = (
            f"run {str(row['run_id'])[:12]} · {row['when']:%Y-%m-%d %H:%M}<br>"
            f"timerange {row['timerange'] or 'n/a'} · {row['timeframe'] or ''}<br>"
            f"trades {fmt(row['trades'], '.0f')} · profit {fmt(row['profit'], '+.2f')}%"
            f" · win rate {fmt(row['win_rate'], '.1f', 100.0)}%<br>"
            f"drawdown {fmt(row['drawdown'], '.2f')}% · sharpe {fmt(row['sharpe'], '.2f')}"
        )
        if row.get("changed"):
            text += f"<br>changed: {row['changed']}"
        if row["notes"]:
            text += f"<br>notes: {row['notes']}"
        lines.append(text)
    return lines


def _heatmap_matrix(runs: pd.DataFrame, pairs: pd.DataFrame, *, many: bool) -> pd.DataFrame:
    """Pairs × runs: profit, trades and win rate (a column level each), runs in history order,
    the best pairs on top."""
    if pairs.empty:
        return pd.DataFrame()
    labels: dict[tuple[str, str], str] = {
        (str(row["strategy"]), str(row["run_id"])): run_label(
            row["when"], str(row["run_id"]), str(row["strategy"]), many
        )
        for row in runs.to_dict("records")
    }
    keys = zip(pairs["strategy"].astype(str), pairs["run_id"].astype(str), strict=True)
    table = pairs.assign(run=pd.Series([labels.get(key) for key in keys], index=pairs.index))
    table = table.dropna(subset=["run"])
    matrix = table.pivot_table(
        index="pair",
        columns="run",
        values=["profit", "trades", "win_rate"],
        aggfunc="first",
        dropna=False,
    )
    order = [label for label in dict.fromkeys(labels.values()) if label in table["run"].values]
    columns = pd.MultiIndex.from_product([["profit", "trades", "win_rate"], order])
    matrix = matrix.reindex(columns=columns)
    profit = pd.DataFrame(matrix["profit"])
    best_first = profit.mean(axis=1).sort_values(ascending=False).index
    return matrix.loc[best_first]


def _heatmap(go: Any, matrix: pd.DataFrame) -> Any:
    values = matrix["profit"].to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    details = np.dstack(
        [matrix["trades"].to_numpy(dtype=float), 100.0 * matrix["win_rate"].to_numpy(dtype=float)]
    )
    return go.Heatmap(
        z=values,
        x=list(matrix["profit"].columns),
        y=list(matrix.index),
        customdata=details,
        zmid=0.0,
        zmin=-bound,
        zmax=bound,
        colorscale="RdYlGn",
        texttemplate="%{z:.2f}",
        textfont={"size": 11},
        hovertemplate=(
            "%{y}<br>%{x}<br>profit %{z:+.2f}%<br>trades %{customdata[0]:.0f}"
            " · win rate %{customdata[1]:.0f}%<extra></extra>"
        ),
        colorbar={"title": {"text": "%"}, "len": 0.3, "y": 0.15, "yanchor": "middle"},
        xgap=1,
        ygap=1,
    )
