"""Static analysis of JS/TS: clients, commands, key shapes, unknown uses, skipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyroll.harden.analysis.project import analyze_sources
from tests.unit.harden.harden_sources import analyze_files, call_keys

UPSTASH = 'import { Redis } from "@upstash/redis";\nconst redis = Redis.fromEnv();\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('await redis.get("config");', {("get", ("config",))}),
        ("await redis.get(`cache:${id}`);", {("get", ("cache:*",))}),
        ('await redis.get("cache:" + id);', {("get", ("cache:*",))}),
        ('const P = "user:";\nawait redis.hgetall(P + id);', {("hgetall", ("user:*",))}),
        (
            'const K = { s: "stats:" };\nawait redis.zrange(`${K.s}${day}`, 0, -1);',
            {("zrange", ("stats:*",))},
        ),
        ('await redis.mget("a:1", `b:${x}`);', {("mget", ("a:1", "b:*"))}),
        ('await redis.mget(["a:1", "a:2"]);', {("mget", ("a:1", "a:2"))}),
        ('await redis.mset({ "m:1": 1, "m:2": 2 });', {("mset", ("m:1", "m:2"))}),
        ('await redis.set(key, "v", { ex: 60 });', {("set", ("<dynamic>",))}),
        ('await redis.json.get("doc:1", "$");', {("json.get", ("doc:1",))}),
        ('await redis.scan(0, { match: "sess:*" });', {("scan", ("sess:*",))}),
        (
            'const p = redis.pipeline();\np.incr("hits");\np.get("hits");\nawait p.exec();',
            {("incr", ("hits",)), ("get", ("hits",))},
        ),
        ('await redis.multi().set("a", 1).expire("a", 5).exec();', {("set", ("a",)), ("expire", ("a",))}),
        ("const v = await redis.get<string>(`t:${id}`);", {("get", ("t:*",))}),
        ("await redis.ping();", {("ping", ())}),
    ],
)
def test_upstash_calls(tmp_path: Path, body: str, expected: set[tuple[str, tuple[str, ...]]]) -> None:
    a = analyze_files(
        tmp_path, {"lib/a.ts": UPSTASH + f"export async function f(id, day, x, key) {{\n{body}\n}}\n"}
    )
    assert call_keys(a) == expected
    assert not a.unknown_calls
    assert a.clients and a.clients[0].library == "@upstash/redis"
    assert a.clients[0].env_keys == ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN")


@pytest.mark.parametrize(
    ("files", "expected", "unknown"),
    [
        (  # ioredis with a default import and callBuffer-style names
            {
                "a.js": 'const Redis = require("ioredis");\nconst r = new Redis(process.env.REDIS_URL);\nr.getBuffer("img:1");\nr.lpush("q", job);'
            },
            {("get", ("img:1",)), ("lpush", ("q",))},
            0,
        ),
        (  # node-redis camelCase
            {
                "a.mjs": 'import { createClient } from "redis";\nconst c = createClient({ url: process.env.REDIS_URL });\nawait c.connect();\nawait c.hGetAll("u:1");\nawait c.sendCommand(["DEL", "tmp:1"]);'
            },
            {("hgetall", ("u:1",)), ("del", ("tmp:1",))},
            0,
        ),
        (  # @vercel/kv's ready-made client
            {
                "pages/api/x.js": 'import { kv } from "@vercel/kv";\nexport default async (req, res) => res.json(await kv.zrange("lb", 0, 9));'
            },
            {("zrange", ("lb",))},
            0,
        ),
        (  # a client exported by one module and imported (alias path) by another
            {
                "src/lib/redis.ts": 'import { Redis } from "@upstash/redis";\nexport const redis = new Redis({ url: process.env.U!, token: process.env.T! });',
                "src/app/api/x/route.ts": 'import { redis } from "@/lib/redis";\nexport async function GET() { return Response.json(await redis.get("x:1")); }',
            },
            {("get", ("x:1",))},
            0,
        ),
        (  # default export and a relative import
            {
                "lib/db.js": 'import { Redis } from "@upstash/redis";\nexport default Redis.fromEnv();',
                "api/y.js": 'import db from "../lib/db";\nexport const y = () => db.sadd("tags", "a");',
            },
            {("sadd", ("tags",))},
            0,
        ),
        (  # factory function
            {
                "a.ts": 'import { Redis } from "@upstash/redis";\nfunction getRedis() { return Redis.fromEnv(); }\nexport const f = () => getRedis().get("f:1");'
            },
            {("get", ("f:1",))},
            0,
        ),
        (  # dynamic dispatch: unknown command
            {"a.ts": UPSTASH + 'export const f = (cmd: string) => (redis as any)[cmd]("k");'},
            set(),
            1,
        ),
        (  # the client handed to code we do not know
            {"a.ts": UPSTASH + 'import { something } from "some-lib";\nexport const s = something(redis);'},
            set(),
            1,
        ),
        (  # generic send with a non-literal command
            {
                "a.js": 'const Redis = require("ioredis");\nconst r = new Redis();\nexport const f = (c) => r.call(c, "k");'
            },
            set(),
            1,
        ),
    ],
)
def test_libraries_and_unknowns(tmp_path: Path, files: dict[str, str], expected: set, unknown: int) -> None:
    a = analyze_files(tmp_path, files)
    assert call_keys(a) == expected
    assert len(a.unknown_calls) == unknown
    assert a.complete is (unknown == 0)


def test_ratelimit_use_records_its_commands_and_prefix(tmp_path: Path) -> None:
    a = analyze_files(
        tmp_path,
        {
            "lib/rl.ts": UPSTASH
            + 'import { Ratelimit } from "@upstash/ratelimit";\n'
            + 'export const rl = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(5, "10 s"), prefix: "rl" });'
        },
    )
    assert not a.unknown_calls
    via = {c.command for c in a.calls if c.via == "@upstash/ratelimit"}
    assert {"evalsha", "eval"} <= via
    assert {k.describe() for c in a.calls for k in c.keys} == {"rl*"}


def test_no_redis_at_all(tmp_path: Path) -> None:
    a = analyze_files(tmp_path, {"a.ts": "export const x = (m: Map<string, string>) => m.get('a');"})
    assert not a.uses_redis and not a.calls and a.complete


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("bad.ts", UPSTASH + "export const f = () => redis.set('k', 1 +;\n", "unparseable"),
        ("vendor.min.js", 'var a=require("ioredis");new a().set("k",1);', "minified"),
        ("bundle.js", ("var a=1;" * 2000) + 'require("@upstash/redis")', "minified"),
        ("bin.js", "\0\0\0redis", "binary"),
    ],
)
def test_bad_files_are_skipped_with_a_count(tmp_path: Path, name: str, text: str, reason: str) -> None:
    a = analyze_files(tmp_path, {name: text, "ok.ts": UPSTASH + 'export const g = () => redis.get("g");'})
    assert a.skipped[reason] == 1
    assert ("get", ("g",)) in call_keys(a)
    if reason != "binary":
        assert (
            a.skipped_with_redis_hints and not a.complete
        )  # a skipped Redis file makes the analysis incomplete


def test_build_output_and_dependencies_are_not_source(tmp_path: Path) -> None:
    a = analyze_files(
        tmp_path,
        {
            "node_modules/x/index.js": UPSTASH + "redis.flushall();",
            ".next/server/page.js": UPSTASH + 'redis.del("x");',
            "dist/app.js": UPSTASH + 'redis.del("y");',
            "src/a.ts": UPSTASH + 'export const f = () => redis.get("a");',
        },
    )
    assert call_keys(a) == {("get", ("a",))}
    assert a.files_scanned == 1


def test_value_writes_and_encryption(tmp_path: Path) -> None:
    a = analyze_files(
        tmp_path,
        {
            "a.ts": UPSTASH
            + 'import { encrypt } from "./crypto";\n'
            + "export async function f(u: string, doc: object) {\n"
            + "  await redis.set(`plain:${u}`, JSON.stringify(doc));\n"
            + "  const sealed = await encrypt(JSON.stringify(doc));\n"
            + "  await redis.set(`enc:${u}`, sealed);\n"
            + '  await redis.incr("counter");\n'
            + "}\n"
        },
    )
    writes = {(w.line, w.encrypted) for w in a.writes}
    assert writes == {(5, False), (7, True)}


def test_too_large_and_invalid_utf8_files(tmp_path: Path) -> None:
    big = "// redis\n" + "x = 1;\n" * 400_000  # > 2 MiB
    a = analyze_files(
        tmp_path,
        {"big.js": big, "ok.ts": UPSTASH + 'export const g = () => redis.get("g");'},
    )
    (tmp_path / "latin1.js").write_bytes(b"const s = '\xe9t\xe9';\n")
    a = analyze_sources([tmp_path])
    assert a.skipped["too_large"] == 1
    assert a.files_scanned == 2  # the Latin-1 file is decoded leniently and parsed
    assert ("get", ("g",)) in call_keys(a)
