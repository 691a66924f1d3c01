"""Charts as SVG made on the server: no chart library, no external service, no script.

Each function returns the markup of one ``<svg>`` (escaped text, sizes in the
viewBox so it scales on a phone), with a ``<title>`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

_W, _H, _PAD = 640, 220, 36


def bars(title: str, labels: Sequence[str], values: Sequence[float], unit: str = "") -> str:
    """A bar chart of ``values`` (one bar per label); an empty series says so."""
    if not values:
        return (
            f'<svg class="chart" viewBox="0 0 {_W} 60" role="img"><title>{escape(title)}</title>'
            f'<text x="{_W / 2}" y="35" text-anchor="middle">no data in this period</text></svg>'
        )
    top = max(max(values), 1.0)
    n = len(values)
    slot = (_W - 2 * _PAD) / n
    width = max(slot * 0.8, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>',
        f'<text x="{_PAD - 4}" y="{_PAD}" text-anchor="end" class="tick">{top:g}</text>',
        f'<text x="{_PAD - 4}" y="{_H - _PAD}" text-anchor="end" class="tick">0</text>',
    ]
    every = max(1, n // 8)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (_H - 2 * _PAD) * value / top
        x = _PAD + i * slot + (slot - width) / 2
        y = _H - _PAD - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{_H - _PAD + 16}" text-anchor="middle" '
                f'class="tick">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


HOUR_BINS = ((0, 6), (6, 12), (12, 24), (24, 48), (48, 72), (72, 168), (168, None))


def histogram_hours(title: str, hours: Sequence[float]) -> str:
    """Time-to-removal counts in bins a caseworker reads at a glance (0-6 h … over a week)."""
    labels, counts = [], []
    for lo, hi in HOUR_BINS:
        labels.append(f"{lo}-{hi} h" if hi is not None else f"> {lo} h")
        counts.append(float(sum(1 for h in hours if h >= lo and (hi is None or h < hi))))
    if not hours:
        return bars(title, [], [])
    return bars(title, labels, counts, " items")
