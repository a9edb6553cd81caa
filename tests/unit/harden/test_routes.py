"""Route discovery (Next.js, Express, FastAPI, Flask) and rate-limit detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyroll.harden.analysis.project import analyze_sources


def _routes(tmp_path: Path, files: dict[str, str]):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    a = analyze_sources([tmp_path])
    return a, {(r.framework, r.route, r.methods, r.rate_limited) for r in a.routes}


RL = (
    'import { Ratelimit } from "@upstash/ratelimit";\nimport { Redis } from "@upstash/redis";\n'
    'const ratelimit = new Ratelimit({ redis: Redis.fromEnv(), limiter: Ratelimit.fixedWindow(5, "1 m") });\n'
)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"pages/api/users/[id].ts": "export default function h(req, res) { res.json({}) }"},
            {("next-pages", "/api/users/[id]", (), False)},
        ),
        (
            {"src/pages/api/index.js": "export default (req, res) => res.end()"},
            {("next-pages", "/api", (), False)},
        ),
        (
            {
                "app/(shop)/api/items/route.ts": "export async function GET() {}\nexport async function POST() {}"
            },
            {("next-app", "/api/items", ("GET", "POST"), False)},
        ),
        (
            {
                "src/app/api/items/route.ts": RL
                + "export async function POST(req: Request) {\n  const { success } = await ratelimit.limit('ip');\n  return new Response(null);\n}"
            },
            {("next-app", "/api/items", ("POST",), True)},
        ),
        (  # middleware with a matcher covering /api
            {
                "middleware.ts": RL
                + "export async function middleware(req) { await ratelimit.limit('x'); }\n"
                "export const config = { matcher: ['/api/:path*'] };",
                "app/api/a/route.ts": "export const GET = async () => new Response();",
                "app/admin/route.ts": "export const GET = async () => new Response();",
            },
            {("next-app", "/api/a", ("GET",), True), ("next-app", "/admin", ("GET",), False)},
        ),
        (
            {
                "server.js": 'const express = require("express");\nconst rateLimit = require("express-rate-limit");\n'
                "const app = express();\napp.get('/health', (q, s) => s.end());\n"
                "app.post('/api/buy', rateLimit({ windowMs: 60000, max: 5 }), (q, s) => s.end());"
            },
            {("express", "/health", ("GET",), False), ("express", "/api/buy", ("POST",), True)},
        ),
        (
            {
                "server.ts": 'import express from "express";\nimport { limiter } from "./limit";\n'
                "const app = express();\napp.use('/api', limiter);\napp.get('/api/a', h);\napp.get('/b', h);"
            },
            {("express", "/api/a", ("GET",), True), ("express", "/b", ("GET",), False)},
        ),
        (  # QStash-verified routes are not public
            {
                "app/api/job/route.ts": 'import { verifySignatureAppRouter } from "@upstash/qstash/nextjs";\n'
                "export const POST = verifySignatureAppRouter(async (req: Request) => new Response());"
            },
            {("next-app", "/api/job", ("POST",), True)},
        ),
        (
            {
                "main.py": "from fastapi import FastAPI, Depends\napp = FastAPI()\n"
                "@app.get('/items/{id}')\ndef get_item(id: str):\n    return {}\n"
                "@app.post('/items', dependencies=[Depends(rate_limiter)])\ndef create():\n    return {}\n"
            },
            {("fastapi", "/items/{id}", ("GET",), False), ("fastapi", "/items", ("POST",), True)},
        ),
        (
            {
                "app.py": "from flask import Flask\napp = Flask(__name__)\n"
                "@app.route('/login', methods=['POST'])\n@limiter.limit('5/minute')\ndef login():\n    return ''\n"
                "@app.route('/')\ndef index():\n    return ''\n"
            },
            {("flask", "/login", ("POST",), True), ("flask", "/", ("GET",), False)},
        ),
        (  # upstash-ratelimit inside the handler body
            {
                "main.py": "from fastapi import FastAPI\nfrom upstash_ratelimit import Ratelimit, FixedWindow\n"
                "from upstash_redis import Redis\napp = FastAPI()\n"
                "ratelimit = Ratelimit(redis=Redis.from_env(), limiter=FixedWindow(10, 10))\n"
                "@app.post('/api/x')\ndef x():\n    if not ratelimit.limit('ip').allowed:\n        raise Exception()\n"
            },
            {("fastapi", "/api/x", ("POST",), True)},
        ),
        (  # a global limiter (slowapi middleware) covers every route
            {
                "main.py": "from fastapi import FastAPI\nfrom slowapi.middleware import SlowAPIMiddleware\napp = FastAPI()\n"
                "app.add_middleware(SlowAPIMiddleware)\n@app.get('/a')\ndef a():\n    return 1\n"
            },
            {("fastapi", "/a", ("GET",), True)},
        ),
    ],
)
def test_routes(tmp_path: Path, files: dict[str, str], expected: set) -> None:
    _, got = _routes(tmp_path, files)
    assert got == expected


def test_unknown_frameworks_are_counted(tmp_path: Path) -> None:
    a, got = _routes(
        tmp_path,
        {
            "server.ts": 'import Fastify from "fastify";\nconst f = Fastify();\nf.get("/x", async () => 1);',
            "views.py": "from django.http import JsonResponse\ndef v(request):\n    return JsonResponse({})\n",
        },
    )
    assert got == set()
    assert a.skipped["unknown_framework"] == 2
