"""What every hyperal HTML page shares: one self-contained file (inline SVG
figures, inline CSS, no script or font from the network), a header table of
what was run, a table of contents, numbered figures with captions, and a
colour-blind-safe palette (Okabe & Ito, "Color Universal Design", 2008)."""

from __future__ import annotations

import html
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

import hyperal

#: Okabe–Ito colours, black last; with MARKERS, lines stay apart in grey too.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", "h", ">")

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.9em;color:#444;max-width:60em}
nav ol{columns:2}.note{color:#555;font-size:.9em}
pre{white-space:pre-wrap;font-size:.85em;background:#f7f7f7;padding:.6em}
"""


def colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


#: One colour per meaning on a campaign's page, the same in every figure
#: (lower-case hex, as matplotlib reads a colour back): a test set or the
#: training set (a split) ...
SPLIT_COLOURS = {"train": "#0072b2", "gentle": "#009e73", "difficult": "#d55e00"}
#: ... a structure type (never a split's colour; "all" black) ...
TYPE_COLOURS = {
    "all": "#000000",
    "known": "#e69f00",
    "enumerated": "#e69f00",  # loop 0's starts either way
    "derived_metal": "#cc79a7",
    "derived_oxide": "#56b4e9",
    "random": "#8c564b",
}
#: ... (types beyond those, each by a checksum of its name) ...
MORE_TYPE_COLOURS = ("#7f7f7f", "#bcbd22", "#17becf", "#f0e442", "#9467bd")
#: ... and markers for the splits, so a point says both.
SPLIT_MARKERS = {"train": "s", "gentle": "o", "difficult": "^"}


def split_colour(split: str) -> str:
    """The colour of a split (train, gentle, difficult) in every figure."""
    return SPLIT_COLOURS.get(split, "#7f7f7f")


def type_colour(source: str) -> str:
    """The colour of a structure type in every figure."""

    if source in TYPE_COLOURS:
        return TYPE_COLOURS[source]
    return MORE_TYPE_COLOURS[zlib.crc32(source.encode()) % len(MORE_TYPE_COLOURS)]


def loop_colour(loop: int, last: int) -> str:
    """The colour of a loop: a sequential scale (viridis) from loop 0 to
    ``last``, so later loops read as later (no categorical colour)."""
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return to_hex(colormaps["viridis"](0.9 * loop / max(last, 1)))


def marker(k: int) -> str:
    return MARKERS[k % len(MARKERS)]


def linestyle(k: int) -> str:
    """Solid for the first round of colours, dashed once they repeat."""
    return "-" if k < len(PALETTE) else "--"


def svg(fig) -> str:
    """A matplotlib figure as inline SVG (text kept as text: crisp, searchable)."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    # no XML prolog or RDF metadata inside an HTML page
    return re.sub(
        r"<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S
    )


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``axis`` (loops and call counts are
    counted, never fractional)."""
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def log_if_positive(ax) -> None:
    """Log y where every plotted value is positive and finite; linear else
    (a zero error would leave a log panel empty)."""

    values = [y for line in ax.get_lines() for y in np.ravel(line.get_ydata())]
    values = [v for v in values if np.isfinite(v)]
    if values and min(values) > 0 and max(values) / min(values) > 5:
        ax.set_yscale("log")


def table(header: Iterable[str], rows: Iterable[Iterable], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text."""

    def cells(tag, values):
        return "".join(
            f"<{tag}{' class=l' if k < left else ''}>{html.escape(str(v))}</{tag}>"
            for k, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><tr>{cells('th', header)}</tr>{body}</table>"


@dataclass
class Page:
    """An HTML page built section by section."""

    title: str
    subtitle: str = ""
    _sections: list[tuple[str, str, list[str]]] = field(default_factory=list)
    _figures: int = 0
    #: every figure's SVG by its name, as the page holds it
    svgs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def about(cls, title: str, store) -> Page:
        """A page whose subtitle says which hyperal wrote it, when, from which
        store (and matplotlib drawing without a display)."""
        # lazy: matplotlib loads only when a figure is drawn
        import matplotlib

        matplotlib.use("Agg", force=False)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return cls(
            title, f"hyperal {hyperal.__version__}; written {when}; store {store}"
        )

    def section(self, title: str) -> list[str]:
        """Start a section; returns the list its parts are appended to."""
        anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        parts: list[str] = []
        self._sections.append((anchor, title, parts))
        return parts

    def figure(self, fig, caption: str, name: str) -> str:
        """A numbered figure with its caption (``name`` becomes its id)."""
        self._figures += 1
        drawn = self.svgs[name] = svg(fig)
        return (
            f"<figure id='fig-{html.escape(name)}'>{drawn}<figcaption><b>Figure "
            f"{self._figures}.</b> {html.escape(caption)}</figcaption></figure>"
        )

    def html(self) -> str:
        toc = "".join(
            f"<li><a href='#{a}'>{html.escape(t)}</a></li>"
            for a, t, _ in self._sections
        )
        body = "".join(
            f"<section id='{a}'><h2>{html.escape(t)}</h2>{''.join(parts)}</section>"
            for a, t, parts in self._sections
        )
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style>"
            f"</head><body><header><h1>{html.escape(self.title)}</h1>"
            f"<p class=note>{html.escape(self.subtitle)}</p></header>"
            f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{body}</body></html>"
        )
