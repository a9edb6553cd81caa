"""Static analysis of Python: upstash-redis and redis-py call sites, key shapes, unknown uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.harden.harden_sources import analyze_files, call_keys

UPSTASH = "from upstash_redis import Redis\nredis = Redis.from_env()\n"
REDIS_PY = "import redis\nr = redis.Redis.from_url('redis://localhost')\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('redis.get("config")', {("get", ("config",))}),
        ('redis.get(f"cache:{id}")', {("get", ("cache:*",))}),
        ('redis.get("cache:" + id)', {("get", ("cache:*",))}),
        ('redis.get("cache:%s" % id)', {("get", ("cache:*",))}),
        ('redis.get("cache:{}".format(id))', {("get", ("cache:*",))}),
        ('PREFIX = "u:"\nredis.hgetall(PREFIX + id)', {("hgetall", ("u:*",))}),
        ('redis.mget("a:1", f"b:{id}")', {("mget", ("a:1", "b:*"))}),
        ('redis.json.get("doc:1")', {("json.get", ("doc:1",))}),
        ('redis.execute(["SET", "x:1", "v"])', {("set", ("x:1",))}),
        ('redis.set(key, "v", ex=60)', {("set", ("<dynamic>",))}),
    ],
)
def test_upstash_python_calls(tmp_path: Path, body: str, expected: set) -> None:
    indented = "\n".join("    " + line for line in body.splitlines())
    a = analyze_files(tmp_path, {"app/a.py": UPSTASH + f"def f(id, key):\n{indented}\n"})
    assert call_keys(a) == expected
    assert not a.unknown_calls
    assert a.clients[0].library == "upstash-redis"


@pytest.mark.parametrize(
    ("files", "expected", "unknown"),
    [
        (
            {"a.py": REDIS_PY + 'r.delete("tmp:1")\nfor k in r.scan_iter(match="sess:*"):\n    pass\n'},
            {("del", ("tmp:1",)), ("scan", ("sess:*",))},
            0,
        ),
        ({"a.py": REDIS_PY + 'p = r.pipeline()\np.incr("hits")\np.execute()\n'}, {("incr", ("hits",))}, 0),
        ({"a.py": REDIS_PY + 'with r.pipeline() as p:\n    p.lpush("q", 1)\n'}, {("lpush", ("q",))}, 0),
        ({"a.py": REDIS_PY + 'r.json().set("doc:1", "$", {})\n'}, {("json.set", ("doc:1",))}, 0),
        ({"a.py": REDIS_PY + 'r.execute_command("EXPIRE", "k:1", 5)\n'}, {("expire", ("k:1",))}, 0),
        (  # module-level client imported elsewhere
            {
                "app/cache.py": UPSTASH,
                "app/views.py": "from app.cache import redis\n\ndef v():\n    return redis.smembers('tags')\n",
            },
            {("smembers", ("tags",))},
            0,
        ),
        (  # factory + typed parameter
            {
                "a.py": "import redis\n\ndef get_redis() -> redis.Redis:\n    return redis.Redis()\n\ndef f(r: redis.Redis):\n    r.get('t:1')\n"
            },
            {("get", ("t:1",))},
            0,
        ),
        ({"a.py": UPSTASH + "def f(name):\n    getattr(redis, name)('k')\n"}, set(), 1),
        ({"a.py": UPSTASH + "import lib\nlib.use(redis)\n"}, set(), 1),
        ({"a.py": UPSTASH + "def f(c):\n    redis.execute([c, 'k'])\n"}, set(), 1),
    ],
)
def test_python_libraries_and_unknowns(
    tmp_path: Path, files: dict[str, str], expected: set, unknown: int
) -> None:
    a = analyze_files(tmp_path, files)
    assert call_keys(a) == expected
    assert len(a.unknown_calls) == unknown


def test_upstash_ratelimit_python(tmp_path: Path) -> None:
    a = analyze_files(
        tmp_path,
        {
            "a.py": UPSTASH
            + "from upstash_ratelimit import Ratelimit, FixedWindow\nrl = Ratelimit(redis=redis, limiter=FixedWindow(10, 10))\n"
        },
    )
    assert not a.unknown_calls
    assert {"eval", "evalsha"} <= {c.command for c in a.calls}
    assert {k.describe() for c in a.calls for k in c.keys} == {"@upstash/ratelimit*"}


def test_syntax_error_is_skipped(tmp_path: Path) -> None:
    a = analyze_files(tmp_path, {"bad.py": UPSTASH + "def f(:\n", "ok.py": UPSTASH + "redis.get('a')\n"})
    assert a.skipped["unparseable"] == 1
    assert a.skipped_with_redis_hints == ["bad.py (unparseable)"]
    assert ("get", ("a",)) in call_keys(a)


def test_writes_with_and_without_encryption(tmp_path: Path) -> None:
    a = analyze_files(
        tmp_path,
        {
            "a.py": UPSTASH
            + "from cryptography.fernet import Fernet\nf = Fernet(KEY)\n"
            + "def save(u, doc):\n    redis.set(f'p:{u}', doc)\n    redis.set(f'e:{u}', f.encrypt(doc))\n"
        },
    )
    assert {(w.line, w.encrypted) for w in a.writes} == {(6, False), (7, True)}
