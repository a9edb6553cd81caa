"""The timeline chart: one row per project on a shared time axis, as inline SVG.

Marks: env write (blue diamond), build started (orange ring), READY (green dot), verify
(purple triangle), revoke (red cross), failure (black square). Cutover windows — from the reset
of the old value until the last new deployment was READY — are shaded red across the rows of
the projects they hit. Plain SVG with ``<title>`` tooltips: no script, no external asset.
"""

from __future__ import annotations

import math
from html import escape

from keyroll.report.model import IncidentReport, MarkKind, TimelineMark
from keyroll.verify.times import iso

__all__ = ["MARK_STYLE", "render_timeline", "tick_step"]

MARK_STYLE: dict[MarkKind, tuple[str, str]] = {
    MarkKind.ENV_WRITE: ("#1f6feb", "env write"),
    MarkKind.BUILD: ("#d97706", "build started"),
    MarkKind.READY: ("#15803d", "READY"),
    MarkKind.VERIFY: ("#7c3aed", "verify"),
    MarkKind.REVOKE: ("#dc2626", "revoke"),
    MarkKind.FAILURE: ("#111827", "failure"),
}
"""colour and legend label of each mark kind"""

LABEL_W = 190
PLOT_W = 720
ROW_H = 26
TOP = 56
BOTTOM = 40
MAX_ROWS = 80

_STEPS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    21600,
    43200,
    86400,
)


def tick_step(span_s: float, target: int = 8) -> float:
    """A round tick interval giving about ``target`` ticks over ``span_s`` seconds."""
    for step in _STEPS:
        if span_s / step <= target:
            return float(step)
    return float(math.ceil(span_s / target / 86400) * 86400)


def _fmt_offset(s: float) -> str:
    if s < 60:
        return f"+{round(s, 3):g} s"
    if s < 3600:
        m, sec = divmod(round(s), 60)
        return f"+{m} min" + (f" {sec} s" if sec else "")
    h, rest = divmod(round(s), 3600)
    return f"+{h} h" + (f" {rest // 60} min" if rest // 60 else "")


def _shape(kind: MarkKind, x: float, y: float, colour: str) -> str:
    if kind is MarkKind.ENV_WRITE:
        return f'<path d="M{x:.1f} {y - 6:.1f} L{x + 6:.1f} {y:.1f} L{x:.1f} {y + 6:.1f} L{x - 6:.1f} {y:.1f} Z" fill="{colour}"/>'
    if kind is MarkKind.BUILD:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="white" stroke="{colour}" stroke-width="2.5"/>'
    if kind is MarkKind.READY:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{colour}"/>'
    if kind is MarkKind.VERIFY:
        return f'<path d="M{x - 6:.1f} {y + 5:.1f} L{x + 6:.1f} {y + 5:.1f} L{x:.1f} {y - 6:.1f} Z" fill="{colour}"/>'
    if kind is MarkKind.REVOKE:
        return (
            f'<path d="M{x - 5:.1f} {y - 5:.1f} L{x + 5:.1f} {y + 5:.1f} M{x + 5:.1f} {y - 5:.1f} '
            f'L{x - 5:.1f} {y + 5:.1f}" stroke="{colour}" stroke-width="3" stroke-linecap="round"/>'
        )
    return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{colour}"/>'


def _rows(report: IncidentReport) -> list[str]:
    first: dict[str, float] = {}
    for m in report.marks:
        first[m.project_id] = min(first.get(m.project_id, m.at), m.at)
    for w in report.windows:
        for p in w.projects:
            first.setdefault(p, w.start)
    for section in report.projects:
        first.setdefault(section.project_id, math.inf)
    return sorted(first, key=lambda p: (first[p], report.project_name(p)))


def render_timeline(report: IncidentReport) -> str:
    """The chart as an ``<svg>`` element ('' when nothing happened on any project)."""
    rows = _rows(report)
    times = [m.at for m in report.marks] + [t for w in report.windows for t in (w.start, w.end)]
    if not rows or not times:
        return ""
    hidden = max(0, len(rows) - MAX_ROWS)
    rows = rows[:MAX_ROWS]
    t0, t1 = min(times), max(times)
    span = max(t1 - t0, 0.1)
    step = tick_step(span)
    t_end = t0 + math.ceil(span / step) * step
    scale = PLOT_W / (t_end - t0)
    height = TOP + ROW_H * len(rows) + BOTTOM + (18 if hidden else 0)
    width = LABEL_W + PLOT_W + 30
    row_of = {p: i for i, p in enumerate(rows)}

    def x(t: float) -> float:
        return LABEL_W + (t - t0) * scale

    def y(i: int) -> float:
        return TOP + ROW_H * i + ROW_H / 2

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12" '
        f'data-rows="{len(rows)}" data-marks="{len(report.marks)}" data-windows="{len(report.windows)}">',
        f"<title>Rotation timeline: {len(rows)} project(s), from {escape(iso(t0))}</title>",
    ]
    # legend
    lx = LABEL_W
    for kind, (colour, label) in MARK_STYLE.items():
        out.append(_shape(kind, lx + 6, 16, colour))
        out.append(f'<text x="{lx + 16}" y="20">{escape(label)}</text>')
        lx += 24 + 7 * len(label)
    out.append(
        f'<rect x="{lx}" y="10" width="14" height="12" fill="#dc2626" fill-opacity="0.18" stroke="#dc2626" stroke-opacity="0.5"/>'
    )
    out.append(f'<text x="{lx + 20}" y="20">cutover window</text>')
    # row bands and labels
    for p, i in row_of.items():
        band_y = TOP + ROW_H * i
        if i % 2 == 0:
            out.append(f'<rect x="{LABEL_W}" y="{band_y}" width="{PLOT_W}" height="{ROW_H}" fill="#f3f4f6"/>')
        name = report.project_name(p)
        short = name if len(name) <= 26 else name[:25] + "…"
        out.append(
            f'<text class="row-label" x="{LABEL_W - 8}" y="{y(i) + 4:.1f}" text-anchor="end" data-project="{escape(p)}">'
            f"<title>{escape(name)} ({escape(p)})</title>{escape(short)}</text>"
        )
    # ticks
    n_ticks = round((t_end - t0) / step)
    axis_y = TOP + ROW_H * len(rows)
    for k in range(n_ticks + 1):
        tx = x(t0 + k * step)
        out.append(
            f'<line x1="{tx:.1f}" y1="{TOP}" x2="{tx:.1f}" y2="{axis_y}" stroke="#d1d5db" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#374151">{escape(_fmt_offset(k * step))}</text>'
        )
    out.append(f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + PLOT_W}" y2="{axis_y}" stroke="#6b7280"/>')
    out.append(
        f'<text x="{LABEL_W + PLOT_W / 2:.0f}" y="{axis_y + 32}" text-anchor="middle" fill="#374151">'
        f"time since {escape(iso(t0))}</text>"
    )
    # cutover windows
    for w in report.windows:
        wx = x(w.start)
        ww = max(3.0, (w.end - w.start) * scale)
        idx = sorted(row_of[p] for p in w.projects if p in row_of)
        for i in idx:
            out.append(
                f'<rect class="window" x="{wx:.1f}" y="{TOP + ROW_H * i + 2}" width="{ww:.1f}" height="{ROW_H - 4}" '
                f'fill="#dc2626" fill-opacity="0.18" stroke="#dc2626" stroke-opacity="0.5" data-credential="{escape(w.credential)}">'
                f"<title>cutover {escape(w.credential)}: {w.end - w.start:.1f} s</title></rect>"
            )
    # marks
    for m in _ordered(report.marks):
        if m.project_id not in row_of:
            continue
        colour, label = MARK_STYLE[m.kind]
        i = row_of[m.project_id]
        out.append(
            f'<g class="mark" data-kind="{m.kind.value}" data-project="{escape(m.project_id)}">'
            f"<title>{escape(label)} {escape(iso(m.at))} {escape(m.credential)} {escape(m.label)}</title>"
            f"{_shape(m.kind, x(m.at), y(i), colour)}</g>"
        )
    if hidden:
        out.append(
            f'<text x="{LABEL_W}" y="{height - 6}" fill="#374151">… and {hidden} more project(s), listed below</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _ordered(marks: tuple[TimelineMark, ...]) -> list[TimelineMark]:
    # draw builds under READY and revokes on top, so the mark that matters is visible
    rank = {
        MarkKind.BUILD: 0,
        MarkKind.ENV_WRITE: 1,
        MarkKind.READY: 2,
        MarkKind.VERIFY: 3,
        MarkKind.REVOKE: 4,
        MarkKind.FAILURE: 5,
    }
    return sorted(marks, key=lambda m: (rank[m.kind], m.at))
