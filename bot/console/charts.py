"""Charts drawn on the server as inline SVG: nothing to load, nothing from a CDN.

Colours are SVG presentation attributes (not ``style``), so the pages' Content-Security-Policy
(no inline style) holds. Every chart has a title and a text alternative (``aria-label``), and
its numbers are also in a table on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#1d4f9c", "#d9822b", "#2e8b57", "#b03a2e", "#7a5a1e", "#6b6b9a")
_FONT = 'font-family="system-ui, sans-serif" font-size="11" fill="#333"'


def _fmt_count(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def _nice_max(value: float, ticks: int = 4) -> float:
    """The top of the axis: ``ticks`` steps of 1, 2 or 5 x 10^k (whole numbers from 1 up)."""
    if value <= 0:
        return float(ticks)
    rough = value / ticks
    magnitude = 1.0
    while magnitude * 10 <= rough:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= rough:
            return float(step * magnitude * ticks)
    return float(10 * magnitude * ticks)


def _frame(width: int, height: int, title: str, body: list[str]) -> Markup:
    svg = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )
    return Markup(svg)  # noqa: S704 - every text inside was escaped above


def column_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    color: str = PALETTE[0],
    value_format: Callable[[float], str] = _fmt_count,
) -> Markup:
    """Vertical bars, one per point (e.g. conversations per day)."""
    left, right, top, bottom = 40, 10, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in points), default=0.0))
    body: list[str] = []
    for i in range(5):
        y = top + plot_h * i / 4
        label = value_format(top_value * (4 - i) / 4)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>'
        )
        body.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{label}</text>'
        )
    if points:
        slot = plot_w / len(points)
        bar = min(48.0, max(2.0, slot * 0.7))
        every = max(1, len(points) // 10)
        for index, (label, value) in enumerate(points):
            h = plot_h * value / top_value
            x = left + slot * index + (slot - bar) / 2
            body.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {value_format(value)}</title></rect>'
            )
            if index % every == 0:
                body.append(
                    f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                    f"{_FONT}>{escape(label)}</text>"
                )
    else:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>—</text>')
    return _frame(width, height, title, body)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
) -> Markup:
    """Rates over days (0 to 100 %), one line per series, with a legend."""
    left, right, top, bottom = 40, 10, 12, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    for i in range(5):
        y = top + plot_h * i / 4
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>'
        )
        body.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{100 - 25 * i}%</text>'
        )
    step = plot_w / max(1, len(labels) - 1)
    every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        if index % every == 0:
            x = left + step * index if len(labels) > 1 else left + plot_w / 2
            body.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT}>'
                f"{escape(label)}</text>"
            )
    for number, (name, values) in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        points = [
            (left + (step * i if len(labels) > 1 else plot_w / 2), top + plot_h * (1 - v))
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for x, y in points:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        lx = left + number * 170
        body.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{lx + 14}" y="{height - 9}" {_FONT}>{escape(name)}</text>')
    return _frame(width, height, title, body)


def bar_list(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 560,
    color: str = PALETTE[0],
    value_format: Callable[[float], str] = _fmt_count,
) -> Markup:
    """Horizontal bars with their labels (top topics, e-mail outcomes)."""
    row, label_w, top = 22, 190, 6
    height = top * 2 + row * max(1, len(items))
    top_value = max((v for _, v in items), default=0.0) or 1.0
    body: list[str] = []
    for index, (label, value) in enumerate(items):
        y = top + row * index
        w = (width - label_w - 60) * value / top_value
        short = label if len(label) <= 30 else label[:29] + "…"
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" {_FONT}>{escape(short)}</text>'
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{color}">'
            f"<title>{escape(label)}: {value_format(value)}</title></rect>"
        )
        body.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" {_FONT}>{value_format(value)}</text>'
        )
    if not items:
        body.append(f'<text x="{width / 2}" y="{top + 15}" text-anchor="middle" {_FONT}>—</text>')
    return _frame(width, height, title, body)
