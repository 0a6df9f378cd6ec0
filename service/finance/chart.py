"""A server-rendered SVG bar chart: no JavaScript, no CDN, readable with styles turned off.

One chart per currency, because bars in different currencies on one axis would invite exactly
the cross-currency sum the reports refuse to make.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

from markupsafe import Markup

from ..currencies import format_amount

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 70, 28, 12


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def bar_chart(title: str, days: Sequence[str], values: dict[str, int], currency: str) -> Markup:
    """Bars of ``values`` (minor units by ISO day) across ``days``, labelled for screen readers."""
    peak = max([*values.values(), 1])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(days), 1)
    bar_w = max(step * 0.7, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-{currency}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{currency}">{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" stroke="#505a5f"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" font-size="11">'
        f"{escape(format_amount(peak, currency))}</text>",
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    label_every = max(len(days) // 8, 1)
    for i, day in enumerate(days):
        value = values.get(day, 0)
        height = plot_h * value / peak
        x = LEFT + i * step + (step - bar_w) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
            f'fill="#1d70b8"><title>{day}: {escape(format_amount(value, currency))}</title></rect>'
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{LEFT + i * step + step / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'font-size="11">{day[5:]}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value above is escaped or numeric
