"""Check 7 — public API routes without rate limiting in a project that uses Upstash (medium).

A leaked or abused endpoint multiplies Redis calls (and the bill); ``@upstash/ratelimit``
(JS) and ``upstash-ratelimit`` (Python) put a limit in front of a route with one Redis round
trip. Routes that verify QStash signatures are not public and are skipped.
"""

from __future__ import annotations

from keyroll.harden.analysis.model import Route
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["JS_SNIPPET", "PY_SNIPPET", "check"]

JS_SNIPPET = """\
// npm i @upstash/ratelimit @upstash/redis
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";

const ratelimit = new Ratelimit({
  redis: Redis.fromEnv(),
  limiter: Ratelimit.slidingWindow(10, "10 s"), // 10 requests per 10 seconds per caller
  prefix: "ratelimit",
});

export async function POST(request: Request) {
  const ip = request.headers.get("x-forwarded-for")?.split(",")[0] ?? "anonymous";
  const { success, limit, remaining, reset } = await ratelimit.limit(ip);
  if (!success) {
    return new Response("Too Many Requests", {
      status: 429,
      headers: { "X-RateLimit-Limit": String(limit), "X-RateLimit-Remaining": String(remaining),
                 "X-RateLimit-Reset": String(reset) },
    });
  }
  // … the handler
}
"""

PY_SNIPPET = """\
# pip install upstash-ratelimit upstash-redis
from fastapi import HTTPException, Request
from upstash_ratelimit import Ratelimit, SlidingWindow
from upstash_redis import Redis

ratelimit = Ratelimit(
    redis=Redis.from_env(),
    limiter=SlidingWindow(max_requests=10, window=10),  # 10 requests per 10 seconds per caller
    prefix="ratelimit",
)

@app.post("/api/items")
def create_item(request: Request):
    response = ratelimit.limit(request.client.host if request.client else "anonymous")
    if not response.allowed:
        raise HTTPException(status_code=429, detail="Too Many Requests")
    # … the handler
"""

MAX_EVIDENCE = 12


def _uses_upstash(ctx: HardenContext, project_id: str) -> bool:
    if ctx.credentials_of_project(project_id):
        return True
    facts = ctx.projects.get(project_id)
    return bool(facts and facts.analysis and facts.analysis.uses_redis)


def _label(r: Route) -> str:
    methods = ",".join(r.methods) if r.methods else "ANY"
    return f"{methods} {r.route}"


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per project listing its unprotected routes, with a snippet for its language."""
    findings: list[Finding] = []
    for pid, facts in sorted(ctx.projects.items()):
        a = facts.analysis
        if a is None or not a.routes or a.global_rate_limit or not _uses_upstash(ctx, pid):
            continue
        open_routes = [r for r in a.routes if not r.rate_limited and r.route.startswith("/")]
        if not open_routes:
            continue
        python = sum(1 for r in open_routes if r.framework in ("fastapi", "flask"))
        snippet = PY_SNIPPET if python > len(open_routes) - python else JS_SNIPPET
        evidence = [
            Evidence(f"route {_label(r)} ({r.framework}) has no rate limiting", f"file {r.path}:{r.line}")
            for r in open_routes[:MAX_EVIDENCE]
        ]
        if len(open_routes) > MAX_EVIDENCE:
            evidence.append(Evidence(f"{len(open_routes) - MAX_EVIDENCE} more route(s)", f"source {a.root}"))
        findings.append(
            Finding(
                id=finding_id(Rule.NO_RATE_LIMIT, pid),
                rule=Rule.NO_RATE_LIMIT,
                severity=Severity.MEDIUM,
                title=f"project {facts.name}: {len(open_routes)} public API route(s) without rate limiting",
                evidence=tuple(evidence),
                fix=(
                    "Put a rate limit in front of each public route (or once in middleware): "
                    + ("upstash-ratelimit" if snippet is PY_SNIPPET else "@upstash/ratelimit")
                    + ", as in the snippet."
                ),
                project=facts.name,
                details={"routes": [_label(r) for r in open_routes], "snippet": snippet},
            )
        )
    return findings
