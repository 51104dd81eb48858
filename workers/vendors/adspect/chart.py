"""The funnel's trend chart (PNG): clicks and money/safe hits a day, and one line a stream for
the busiest streams. Drawn with matplotlib's Agg backend: no display, safe in worker threads
as long as each figure is its own object (the OO API, never pyplot's global figure).

matplotlib (with numpy) costs a worker process about 35 MB the moment it is imported, and most
workers never draw a chart: it is imported on the first chart a process draws, not when the
vendor folder is registered, so a worker exporting a million rows of another vendor stays in its
150 MB (``bench/RESULTS.md``). Not a cycle being dodged: nothing else imports this module's
dependencies."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["DPI", "LINES", "SIZE", "draw"]

#: Inches at DPI: a 1200 × 700 px PNG, readable in Slack's preview.
SIZE = (12.0, 7.0)
DPI = 100
LINES = {"clicks": "clicks", "money_hits": "money hits", "safe_hits": "safe hits"}


_loaded: tuple[ModuleType, ModuleType] | None = None
_loading = threading.Lock()


def _matplotlib() -> tuple[ModuleType, ModuleType]:
    """matplotlib's Figure and Agg canvas modules, imported once per process (see above)."""
    global _loaded
    with _loading:
        if _loaded is None:
            matplotlib = importlib.import_module("matplotlib")
            matplotlib.use("Agg")  # before anything imports pyplot: workers have no display
            _loaded = (importlib.import_module("matplotlib.figure"),
                       importlib.import_module("matplotlib.backends.backend_agg"))
        return _loaded


def draw(path: Path, days: Sequence[str], series: Mapping[str, Sequence[float]],
         per_stream: Mapping[str, Sequence[float]], title: str) -> int:
    """Write the chart to ``path``; its size in bytes. ``series``: totals a day by metric;
    ``per_stream``: one metric a day by stream name (empty: one panel only)."""
    # A Figure of our own, not pyplot's: nothing global to close, freed with the object.
    figure, agg = _matplotlib()
    fig = figure.Figure(figsize=SIZE, dpi=DPI)
    agg.FigureCanvasAgg(fig)
    panels = 2 if per_stream else 1
    top = fig.add_subplot(panels, 1, 1)
    x = range(len(days))
    for metric, values in series.items():
        top.plot(x, values, marker="o", markersize=3, label=LINES.get(metric, metric))
    top.set_title(title)
    top.set_ylabel("per day")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    axes = [top]
    if per_stream:
        bottom = fig.add_subplot(2, 1, 2, sharex=top)
        for name, values in per_stream.items():
            bottom.plot(x, values, label=name[:40])
        bottom.set_ylabel("clicks per stream")
        bottom.grid(alpha=0.3)
        bottom.legend(loc="upper left", fontsize=7)
        axes.append(bottom)
    step = max(1, len(days) // 12)
    axes[-1].set_xticks(list(x)[::step], [d[5:] if len(d) == 10 else d for d in days][::step], rotation=0, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")  # no bbox_inches: the size stays SIZE × DPI
    return path.stat().st_size
