"""Charts for the analytics dashboard, drawn on the server as inline SVG: no JavaScript
library, no build step, readable without a script, and printable.

Each function takes plain numbers and labels and returns SVG markup (labels escaped). Sizes
are in SVG units; the page scales them to its width with ``viewBox``.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c")
FONT = 'font-family="system-ui,sans-serif" font-size="11" fill="#4b5563"'


def _number(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    percent: bool = False,
    width: int = 640,
    height: int = 220,
) -> Markup:
    """One polyline per series over the x labels (days); None leaves a gap."""
    left, right, top, bottom = 44, 12, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    # Counts and costs scale to their largest value (a cost of 0.002 is not a flat line).
    peak = 1.0 if percent else (max(values, default=0.0) or 1.0)
    step = plot_w / max(1, len(x_labels) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h - (v / peak) * plot_h

    parts = [_frame(width, height, title)]
    for fraction in (0, 0.5, 1):
        level = y(peak * fraction)
        label = f"{fraction * 100:.0f}%" if percent else _number(peak * fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{level:.1f}" y2="{level:.1f}" '
            f'stroke="#e5e7eb"/><text x="{left - 6}" y="{level + 4:.1f}" text-anchor="end" '
            f"{FONT}>{label}</text>"
        )
    last = len(x_labels) - 1
    for index in sorted({0, len(x_labels) // 2, last}):
        if 0 <= index < len(x_labels):
            # The end labels hang inwards, so they are not cut at the chart's edges.
            anchor = "start" if index == 0 else ("end" if index == last else "middle")
            parts.append(
                f'<text x="{x(index):.1f}" y="{height - 8}" text-anchor="{anchor}" {FONT}>'
                f"{escape(x_labels[index])}</text>"
            )
    for n, (name, vs) in enumerate(series):
        color = PALETTE[n % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for run in runs:
            if run:
                d = "M" + " L".join(run)
                parts.append(f'<path class="series" d="{d}" fill="none" stroke="{color}" '
                             f'stroke-width="2"><title>{escape(name)}</title></path>')  # fmt: skip
        for i, v in enumerate(vs):
            if v is not None:  # a dot per point: a single day still shows
                parts.append(
                    f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" '
                    f'fill="{color}"><title>{escape(name)} {escape(x_labels[i])}: '
                    f"{_number(v * 100) + '%' if percent else _number(v)}</title></circle>"
                )
        parts.append(
            f'<rect x="{left + 8 + n * 150}" y="6" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + 22 + n * 150}" y="15" {FONT}>{escape(name)}</text>'
        )
    return Markup("".join(parts) + "</svg>")


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    percent: bool = False,
    width: int = 640,
    bar: int = 22,
) -> Markup:
    """Horizontal bars, one per (label, value), largest scale first."""
    label_w, top = 220, 24
    height = top + max(1, len(items)) * (bar + 6) + 8
    peak = 1.0 if percent else max([1.0, *(v for _, v in items)])
    parts = [_frame(width, height, title)]
    if not items:
        parts.append(f'<text x="12" y="{top + 16}" {FONT}>No data in this range.</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar + 6)
        length = (width - label_w - 70) * (value / peak)
        shown = f"{value * 100:.0f}%" if percent else _number(value)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" {FONT}>'
            f"{escape(label[:38])}</text>"
            f'<rect class="bar" x="{label_w}" y="{y}" width="{max(length, 1):.1f}" '
            f'height="{bar}" fill="{PALETTE[0]}" rx="3"><title>{escape(label)}: {shown}</title>'
            f'</rect><text x="{label_w + length + 6:.1f}" y="{y + bar * 0.7:.1f}" {FONT}>'
            f"{shown}</text>"
        )
    return Markup("".join(parts) + "</svg>")


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    counts: Sequence[Sequence[int]],
    *,
    title: str,
    width: int = 640,
) -> Markup:
    """A grid of cells, darker for larger counts (the count is written in each cell)."""
    label_w, top, cell_h = 180, 40, 24
    cell_w = (width - label_w - 12) / max(1, len(columns))
    height = top + max(1, len(rows)) * cell_h + 8
    peak = max([1, *(c for row in counts for c in row)])
    parts = [_frame(width, height, title)]
    for j, column in enumerate(columns):
        parts.append(
            f'<text x="{label_w + (j + 0.5) * cell_w:.1f}" y="{top - 6}" text-anchor="middle" '
            f"{FONT}>{escape(column)}</text>"
        )
    if not rows:
        parts.append(f'<text x="12" y="{top + 16}" {FONT}>No data in this range.</text>')
    for i, (name, row) in enumerate(zip(rows, counts, strict=True)):
        y = top + i * cell_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + cell_h * 0.65:.1f}" text-anchor="end" {FONT}>'
            f"{escape(name[:28])}</text>"
        )
        for j, count in enumerate(row):
            shade = 0.08 + 0.92 * count / peak if count else 0.0
            parts.append(
                f'<rect class="cell" x="{label_w + j * cell_w:.1f}" y="{y}" '
                f'width="{cell_w - 2:.1f}" height="{cell_h - 2}" fill="{PALETTE[0]}" '
                f'fill-opacity="{shade:.2f}" stroke="#e5e7eb"><title>{escape(name)}, '
                f"confidence {escape(columns[j])}: {count}</title></rect>"
                f'<text x="{label_w + (j + 0.5) * cell_w:.1f}" y="{y + cell_h * 0.65:.1f}" '
                f'text-anchor="middle" font-size="11" '
                f'fill="{"#fff" if shade > 0.5 else "#111827"}">{count or ""}</text>'
            )
    return Markup("".join(parts) + "</svg>")


def _frame(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    )
