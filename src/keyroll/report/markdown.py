"""The report as Markdown: headline, checklist with evidence, credentials, projects, risks, unknowns."""

from __future__ import annotations

from keyroll.report.interface import ReportFormat
from keyroll.report.model import Fact, IncidentReport, ItemStatus
from keyroll.report.text import ITEM_LABEL, fmt_duration, fmt_outage, fmt_time

__all__ = ["MarkdownFormat"]

_ICON = {ItemStatus.DONE: "✅", ItemStatus.NOT_DONE: "❌", ItemStatus.UNKNOWN: "❔"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fact(f: Fact) -> str:
    when = f" · {fmt_time(f.at)}" if f.at is not None else ""
    return f"{f.source}{when} — {f.text}"


class MarkdownFormat(ReportFormat):
    """GitHub-flavoured Markdown."""

    media_type = "text/markdown"
    suffix = ".md"

    def format(self, report: IncidentReport) -> str:
        s = report.summary
        out: list[str] = [
            "# Incident record — credential rotation",
            "",
            f"**Status: {s.status.upper()}** · run `{report.run_id or '—'}` ({report.run_state or 'no run'}) · "
            f"generated {fmt_time(report.generated_at)} by keyroll {report.tool_version} · report format v{report.version}",
            "",
            "## Summary",
            "",
            "| | |",
            "|---|---|",
            f"| Credentials rotated | {s.credentials_done} of {s.credentials_total} |",
            f"| Projects affected | {s.projects} |",
            f"| Deployments redeployed | {s.deployments_redeployed} |",
            f"| Longest outage window | {fmt_duration(s.max_outage_s)} |",
            f"| Checklist | {s.checklist_done} of {s.checklist_total} done |",
            f"| Open risks | {s.open_risks} |",
            f"| Started / finished | {fmt_time(s.started_at)} / {fmt_time(s.finished_at)} |",
            "",
            "## Checklist",
            "",
        ]
        for item in report.checklist:
            out.append(
                f"- {_ICON[item.status]} **{item.title}** — {ITEM_LABEL[item.status]} _(guidance: {item.guidance})_"
            )
            for f in item.evidence:
                out.append(f"  - {_fact(f)}")
            for m in item.missing:
                out.append(f"  - ⚠ {m}")
            if item.status is not ItemStatus.DONE and item.hint:
                out.append(f"  - next: {item.hint}")
        if len(report.runs) > 1:
            out += [
                "",
                "## Runs of this incident",
                "",
                "| run | state | started | finished | credentials |",
                "|---|---|---|---|---|",
            ]
            for run in report.runs:
                creds = ", ".join(f"`{fp}` {state}" for fp, state in run.credentials)
                name = f"**{run.run_id}** (this report)" if run.selected else run.run_id
                out.append(
                    f"| {_cell(name)} | {_cell(run.state)} | {_cell(fmt_time(run.started_at))} | "
                    f"{_cell(fmt_time(run.finished_at))} | {_cell(creds)} |"
                )
        out += ["", "## Credentials", ""]
        if report.credentials:
            out += [
                "| Credential | Product / kind | Strategy | State | Outage | Redeployed | Revoked |",
                "|---|---|---|---|---|---|---|",
            ]
            for c in report.credentials:
                ready = sum(1 for r in c.redeploys if r.state == "READY")
                out.append(
                    f"| `{c.fingerprint}` | {_cell(c.product or '?')} / {_cell(c.kind or '?')} | {_cell(c.strategy or '?')} "
                    f"| {_cell(c.state)}{' (forced revoke)' if c.forced_revoke else ''} | {_cell(fmt_outage(c.outage_s, c.outage_basis))} "
                    f"| {ready} | {fmt_time(c.revoked_at)} |"
                )
            for c in report.credentials:
                out += ["", f"### `{c.fingerprint}` {c.resource}".rstrip(), ""]
                if c.new_fingerprints:
                    out.append(f"- new value(s): {', '.join(f'`{f}`' for f in c.new_fingerprints)}")
                out.append(
                    f"- timeline: started {fmt_time(c.started_at)}, revoked {fmt_time(c.revoked_at)}, last entry {fmt_time(c.finished_at)}"
                )
                out.append(f"- steps: {', '.join(f'{n} {st}' for st, n in c.steps) or 'none'}")
                if c.checks:
                    out.append(f"- verify: {', '.join(f'{n} {st}' for st, n in c.checks)}")
                for r in c.redeploys:
                    out.append(
                        f"- redeployed {report.project_name(r.project_id)}{f' [{r.target}]' if r.target else ''}: "
                        f"`{r.old_id or '?'}` → `{r.new_id}` "
                        f"{r.state or '?'} at {fmt_time(r.ready_at or r.started_at)}"
                    )
                for n in c.notes:
                    out.append(f"- note: {n}")
        else:
            out.append("_No rotation recorded._")
        out += ["", "## Projects", ""]
        if report.projects:
            out += ["| Project | Status | Env written | Redeployed | Notes |", "|---|---|---|---|---|"]
            for p in report.projects:
                out.append(
                    f"| {_cell(p.name or p.project_id)} | {p.status} | {fmt_time(p.env_written_at)} | {p.redeployed} "
                    f"| {_cell('; '.join(p.notes))} |"
                )
        else:
            out.append("_None recorded._")
        out += ["", "## Open risks", ""]
        if report.risks:
            for risk in report.risks:
                out.append(
                    f"- **{risk.severity}** — {risk.title}" + (f": {risk.detail}" if risk.detail else "")
                )
                for f in risk.evidence:
                    out.append(f"  - {_fact(f)}")
        else:
            out.append("_None found by the evidence available._")
        out += ["", "## What is not known", ""]
        out += [f"- {u}" for u in report.unknowns] or ["_Nothing: every item is decided by evidence._"]
        if report.integrity:
            out += ["", "## Journal integrity", ""]
            out += [f"- {p}" for p in report.integrity]
        if report.verify is not None:
            v = report.verify
            out += [
                "",
                "## Verification checks",
                "",
                f"Run {fmt_time(v.started_at)}: " + ", ".join(f"{n} {st}" for st, n in v.counts().items()),
                "",
            ]
            out += ["| Status | Check | Evidence |", "|---|---|---|"]
            for check in v.checks:
                ev = "; ".join(f"{e.source.value} {fmt_time(e.at)}: {e.what}" for e in check.evidence[:3])
                out.append(f"| {check.status.value} | {_cell(check.title)} | {_cell(ev)} |")
        if report.audit is not None:
            a = report.audit
            out += [
                "",
                "## Activity review",
                "",
                f"Window {fmt_time(a.since)} → {fmt_time(a.until)}; sources: {', '.join(a.sources) or 'none'}; "
                f"{len(a.events)} event(s), {len(a.flagged)} flagged.",
                "",
            ]
            if a.flagged:
                out += ["| Time | Source | Type | Actor | Why |", "|---|---|---|---|---|"]
                for e in a.flagged[:100]:
                    out.append(
                        f"| {fmt_time(e.at)} | {e.source} | {_cell(e.type)} | {_cell(e.actor or '?')} | {_cell(', '.join(e.reasons))} |"
                    )
        out.append("")
        return "\n".join(out)
