"""The report as one self-contained HTML file: inline CSS, inline SVG timeline, no script, no external asset."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from keyroll.report.interface import ReportFormat
from keyroll.report.model import Fact, IncidentReport, ItemStatus
from keyroll.report.text import ITEM_LABEL, fmt_duration, fmt_outage, fmt_time
from keyroll.report.timeline import render_timeline

__all__ = ["HtmlFormat"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;margin:0;background:#fff}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#4b5563}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:600;font-size:13px}
.s-complete,.s-done,.s-ok,.s-pass{background:#dcfce7;color:#166534}
.s-incomplete,.s-not_done,.s-attention,.s-fail,.s-high{background:#fee2e2;color:#991b1b}
.s-unknown,.s-warn,.s-medium{background:#fef3c7;color:#92400e}
.s-low{background:#e0e7ff;color:#3730a3}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:16px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.card .n{font-size:24px;font-weight:700}.card .l{color:#4b5563;font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6;padding:1px 4px;border-radius:4px}
ul.ev{margin:4px 0 0 0;padding-left:18px;color:#374151;font-size:13px}
li.item{margin:8px 0;list-style:none}
ul.checklist{padding-left:0}
.chart{overflow-x:auto;border:1px solid #e5e7eb;border-radius:8px;padding:8px;margin:12px 0}
.muted{color:#6b7280}
"""


def _badge(text: str, cls: str) -> str:
    return f'<span class="badge s-{escape(cls)}">{escape(text)}</span>'


def _facts(facts: Iterable[Fact]) -> str:
    items = [
        f"<li>{escape(f.source)}{' · ' + escape(fmt_time(f.at)) if f.at is not None else ''} — {escape(f.text)}</li>"
        for f in facts
    ]
    return f'<ul class="ev">{"".join(items)}</ul>' if items else ""


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class HtmlFormat(ReportFormat):
    """One HTML file a person can open anywhere (and print)."""

    media_type = "text/html"
    suffix = ".html"

    def format(self, report: IncidentReport) -> str:
        s = report.summary
        e = escape
        parts: list[str] = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Incident record — run {e(report.run_id or 'none')}</title>",
            f"<style>{_CSS}</style></head><body><main>",
            "<h1>Incident record — credential rotation</h1>",
            f'<p class="meta">{_badge(s.status.upper(), s.status)} run <code>{e(report.run_id or "—")}</code> '
            f"({e(report.run_state or 'no run')}) · generated {e(fmt_time(report.generated_at))} by keyroll "
            f"{e(report.tool_version)} · format v{report.version}</p>",
        ]
        cards = [
            ("credentials_done", f"{s.credentials_done}/{s.credentials_total}", "credentials rotated"),
            ("projects", str(s.projects), "projects affected"),
            ("deployments_redeployed", str(s.deployments_redeployed), "deployments redeployed"),
            ("max_outage", fmt_duration(s.max_outage_s), "longest outage window"),
            ("checklist", f"{s.checklist_done}/{s.checklist_total}", "checklist items done"),
            ("open_risks", str(s.open_risks), "open risks"),
        ]
        parts.append('<section class="cards" id="summary">')
        parts += [
            f'<div class="card" data-metric="{k}"><div class="n">{e(v)}</div><div class="l">{e(label)}</div></div>'
            for k, v, label in cards
        ]
        parts.append("</section>")
        chart = render_timeline(report)
        parts.append('<h2 id="timeline">Timeline</h2>')
        parts.append(
            f'<div class="chart">{chart}</div>' if chart else '<p class="muted">Nothing was journaled.</p>'
        )
        if report.windows:
            names = [
                f"{fmt_duration(w.end - w.start)} for {', '.join(report.project_name(p) for p in w.projects)} "
                f"({w.credential})"
                for w in report.windows
            ]
            parts.append(f'<p class="muted" id="windows">Cutover windows (shaded): {e("; ".join(names))}</p>')
        parts.append('<h2 id="checklist">Checklist</h2><ul class="checklist">')
        for item in report.checklist:
            missing = "".join(f"<li>⚠ {e(m)}</li>" for m in item.missing)
            hint = (
                f"<li>next: {e(item.hint)}</li>" if item.status is not ItemStatus.DONE and item.hint else ""
            )
            parts.append(
                f'<li class="item" data-item="{e(item.id)}" data-status="{item.status.value}">'
                f"{_badge(ITEM_LABEL[item.status], item.status.value)} <strong>{e(item.title)}</strong> "
                f'<span class="muted">(guidance: {e(item.guidance)})</span>'
                f"{_facts(item.evidence)}"
                + (f'<ul class="ev">{missing}{hint}</ul>' if missing or hint else "")
                + "</li>"
            )
        parts.append("</ul>")
        if len(report.runs) > 1:
            parts.append('<h2 id="runs">Runs of this incident</h2>')
            parts.append(
                _table(
                    ["run", "state", "started", "finished", "credentials"],
                    [
                        [
                            e(r.run_id) + (" (this report)" if r.selected else ""),
                            e(r.state),
                            e(fmt_time(r.started_at)),
                            e(fmt_time(r.finished_at)),
                            ", ".join(f"<code>{e(fp)}</code> {e(state)}" for fp, state in r.credentials),
                        ]
                        for r in report.runs
                    ],
                )
            )
        parts.append('<h2 id="credentials">Credentials</h2>')
        if report.credentials:
            rows = []
            for c in report.credentials:
                ready = sum(1 for r in c.redeploys if r.state == "READY")
                rows.append(
                    [
                        f"<code>{e(c.fingerprint)}</code><br><span class='muted'>{e(c.resource)}</span>",
                        e(f"{c.product or '?'} / {c.kind or '?'}"),
                        e(c.strategy or "?"),
                        _badge(
                            c.state + (" · forced revoke" if c.forced_revoke else ""), _state_cls(c.state)
                        ),
                        e(fmt_outage(c.outage_s, c.outage_basis)),
                        str(ready),
                        e(fmt_time(c.revoked_at)),
                    ]
                )
            parts.append(
                _table(
                    ["Credential", "Product / kind", "Strategy", "State", "Outage", "Redeployed", "Revoked"],
                    rows,
                    "creds",
                )
            )
            for c in report.credentials:
                if not c.redeploys and not c.notes:
                    continue
                parts.append(f"<h3><code>{e(c.fingerprint)}</code> deployments</h3>")
                if c.redeploys:
                    parts.append(
                        _table(
                            ["Project", "Target", "Old", "New", "State", "READY at"],
                            [
                                [
                                    e(report.project_name(r.project_id)),
                                    e(r.target or "?"),
                                    f"<code>{e(r.old_id or '?')}</code>",
                                    f"<code>{e(r.new_id)}</code>",
                                    e(r.state or "?"),
                                    e(fmt_time(r.ready_at)),
                                ]
                                for r in c.redeploys
                            ],
                        )
                    )
                parts += [f'<p class="muted">note: {e(n)}</p>' for n in c.notes]
        else:
            parts.append('<p class="muted">No rotation recorded.</p>')
        parts.append('<h2 id="projects">Projects</h2>')
        if report.projects:
            parts.append(
                _table(
                    ["Project", "Status", "Env written", "Redeployed", "Notes"],
                    [
                        [
                            e(p.name or p.project_id),
                            _badge(p.status, p.status),
                            e(fmt_time(p.env_written_at)),
                            str(p.redeployed),
                            e("; ".join(p.notes)),
                        ]
                        for p in report.projects
                    ],
                    "projects",
                )
            )
        else:
            parts.append('<p class="muted">None recorded.</p>')
        parts.append('<h2 id="risks">Open risks</h2>')
        if report.risks:
            parts.append("<ul>")
            for r in report.risks:
                parts.append(
                    f'<li data-risk="{e(r.id)}">{_badge(r.severity, r.severity)} <strong>{e(r.title)}</strong>'
                    + (f" — {e(r.detail)}" if r.detail else "")
                    + _facts(r.evidence)
                    + "</li>"
                )
            parts.append("</ul>")
        else:
            parts.append('<p class="muted">None found by the evidence available.</p>')
        parts.append('<h2 id="unknowns">What is not known</h2>')
        if report.unknowns:
            parts.append("<ul>" + "".join(f"<li>{e(u)}</li>" for u in report.unknowns) + "</ul>")
        else:
            parts.append('<p class="muted">Nothing: every item is decided by evidence.</p>')
        if report.integrity:
            parts.append('<h2 id="integrity">Journal integrity</h2><ul>')
            parts += [f"<li>{e(p)}</li>" for p in report.integrity]
            parts.append("</ul>")
        if report.verify is not None:
            v = report.verify
            counts = ", ".join(f"{n} {st}" for st, n in v.counts().items())
            parts.append(
                f'<h2 id="verify">Verification checks</h2><p class="muted">run {e(fmt_time(v.started_at))}: {e(counts)}</p>'
            )
            parts.append(
                _table(
                    ["Status", "Check", "Evidence"],
                    [
                        [
                            _badge(c.status.value, c.status.value),
                            e(c.title),
                            "<br>".join(
                                e(f"{ev.source.value} {fmt_time(ev.at)}: {ev.what}") for ev in c.evidence[:3]
                            ),
                        ]
                        for c in v.checks
                    ],
                    "checks",
                )
            )
        if report.audit is not None:
            a = report.audit
            parts.append(
                f'<h2 id="audit">Activity review</h2><p class="muted">window {e(fmt_time(a.since))} → {e(fmt_time(a.until))}; '
                f"sources: {e(', '.join(a.sources) or 'none')}; {len(a.events)} event(s), {len(a.flagged)} flagged</p>"
            )
            if a.flagged:
                parts.append(
                    _table(
                        ["Time", "Source", "Type", "Actor", "Why"],
                        [
                            [
                                e(fmt_time(ev.at)),
                                e(ev.source),
                                e(ev.type),
                                e(ev.actor or "?"),
                                e(", ".join(ev.reasons)),
                            ]
                            for ev in a.flagged[:200]
                        ],
                    )
                )
        parts.append("</main></body></html>")
        return "\n".join(parts) + "\n"


def _state_cls(state: str) -> str:
    return {"done": "done", "failed": "fail", "rolled_back": "fail", "partial": "warn"}.get(state, "unknown")
