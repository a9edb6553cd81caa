"""Benchmark: ``keyroll scan`` against the strongest secret scanners, whole commands, same corpus.

Peers (installed by ``make bench-env`` into ``.venv-bench``, pinned in ``requirements/bench.txt``;
secretlint with npm into ``.venv-bench/node``): Kingfisher (Rust + Vectorscan), Betterleaks
(Go, the gitleaks successor), trufflehog3, detect-secrets, secretlint, and ripgrep with one
regex over the Upstash token anchors as the reference for what reading plus one regex costs.
Every tool runs offline with validation off, over the same directory (page cache warmed first),
the same number of times, alternated (A B C … A B C …), after one untimed warm-up run each of
the fast tools (Kingfisher's rule cache is then warm, as a user's would be from the second run
on, and so is keyroll's bytecode, even where ``PYTHONDONTWRITEBYTECODE`` is set; the slow ones
have no cache and the page cache is warm already).

The corpus is real source code (text files of this venv's site-packages, the system Python and
node modules, repeated up to the size asked) plus planted credentials of every Upstash kind — and
Vercel tokens — in varied forms (.env, quoted, JSON, YAML, URLs, notebooks, JS/Python code, shell
history, lines appended to real files) and wrapped in base64 (Kubernetes Secrets, ``Basic``,
``.npmrc``, base64 ``.env``), plus base64 noise that must stay silent.

For every tool: min and median wall time of the whole command (interpreter start-up included),
recall on the planted Upstash credentials (a finding on the planted line counts; for a blob, the
line where it starts), and the findings that were not planted, by the tool's rule; for keyroll
also the in-process time (the report's summary) and Upstash-rule findings that were not planted
(the target is 0). Then the same for git history: a repository of ``--git-commits`` commits of
real code with credentials added, changed and deleted along the way (keyroll, Kingfisher,
Betterleaks — the tools with a history mode that finish in minutes).

Results go to ``bench/out/scan.json`` (files, first size), ``bench/out/scan-<MiB>.json`` (other
sizes), ``bench/out/scan-git.json`` (the history as built: loose objects),
``bench/out/scan-git-packed.json`` (the same history cloned: all objects in a pack) and ``bench/out/scan-slow-peers.json`` (trufflehog3,
detect-secrets and secretlint take minutes per run on 64 MiB — detect-secrets 8.5 min on the
2-core machine — so they are compared with keyroll on a smaller corpus, ``--slow-mib``): ``{"name", "command", "date", "machine", "tool_versions",
"params", "runs": {tool: [sample, …]}, "summary": {tool: {…}, …}}``; a sample is
``{"wall_s", "cpu_s", "exit", "findings", "load_1min"}`` (keyroll adds ``in_process_s``); ``cpu_s`` is
the user + system time of the command and every process it waited for (``wait4``): on a shared
machine it says what a tool costs when wall times are stretched by other work. Planted values are random
(keyroll.scan.synthetic), never printed, and the corpus is deleted at the end.

    python bench/scan.py [--sizes 64,220] [--runs 3] [--tools keyroll,kingfisher,...]
                         [--slow-mib 8] [--git-commits 200] [--name scan] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_commit, line, machine

from keyroll.scan import synthetic
from keyroll.scan.detectors import RULES

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
OUT = OUT_DIR / "scan"
BENCH_VENV = Path(os.environ.get("KEYROLL_BENCH_VENV", ROOT / ".venv-bench"))
NODE_PREFIX = BENCH_VENV / "node"
UPSTASH_RULES = {r.id for r in RULES.values() if r.upstash}
ALL_TOOLS = ("keyroll", "kingfisher", "betterleaks", "ripgrep", "trufflehog3", "detect-secrets", "secretlint")
SLOW_TOOLS = frozenset({"trufflehog3", "detect-secrets", "secretlint"})
GIT_TOOLS = ("keyroll", "kingfisher", "betterleaks")


@dataclass(frozen=True)
class Planted:
    """One planted credential: where it is (1-based line) and whether it is an Upstash one."""

    path: str
    line: int
    kind: str
    upstash: bool
    base64: bool = False
    """wrapped in base64 (a Secret's data, Basic, a base64 .env)"""


# -- corpus -------------------------------------------------------------------------------------


TEXT_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".pyx",
        ".c",
        ".h",
        ".cpp",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".json",
        ".yaml",
        ".yml",
        ".toml",
        ".cfg",
        ".ini",
        ".md",
        ".rst",
        ".txt",
        ".html",
        ".css",
        ".sh",
        ".sql",
        ".xml",
        ".csv",
    ]
)


def _sources() -> list[Path]:
    """Trees of real source code on this machine: the venv, the system Python, node modules."""
    roots = [Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["stdlib"])]
    roots += [
        Path("/usr/lib/python3/dist-packages"),
        Path("/usr/lib/node_modules"),
        NODE_PREFIX / "node_modules",
    ]
    return [r for r in roots if r.is_dir()]


def copy_real_code(dest: Path, cap_bytes: int) -> int:
    """Copy source/text files of real projects until ``cap_bytes`` (repeating the trees if
    they hold less: a bigger corpus of the same real code); returns bytes copied."""
    total = 0
    for rnd in range(100):
        before = total
        for src in _sources():
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                dirnames[:] = [d for d in dirnames if d != "__pycache__"]
                for name in sorted(filenames):
                    p = Path(dirpath) / name
                    if p.suffix.lower() not in TEXT_SUFFIXES or p.is_symlink() or not p.is_file():
                        continue
                    size = p.stat().st_size
                    if total + size > cap_bytes:
                        return total
                    target = dest / f"copy{rnd}" / src.name / p.relative_to(src)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(p, target)
                    total += size
        if total == before:
            break
    return total


def credentials() -> list[tuple[str, str, str, bool]]:
    """``(kind, env key, value, upstash)`` — one of every kind we plant."""
    host, port = synthetic.upstash_host()
    return [
        ("redis-v2", "UPSTASH_REDIS_REST_TOKEN", synthetic.redis_token(port=port).reveal(), True),
        ("redis-v1", "KV_REST_API_TOKEN", synthetic.redis_token(layout="v1", pad=True).reveal(), True),
        ("redis-ro-v2", "KV_REST_API_READ_ONLY_TOKEN", synthetic.redis_token(readonly=True).reveal(), True),
        (
            "redis-ro-v1",
            "UPSTASH_REDIS_REST_READONLY_TOKEN",
            synthetic.redis_token(readonly=True, layout="v1").reveal(),
            True,
        ),
        ("vector", "UPSTASH_VECTOR_REST_TOKEN", synthetic.index_token().reveal(), True),
        (
            "vector-ro",
            "UPSTASH_VECTOR_REST_READONLY_TOKEN",
            synthetic.index_token(readonly=True).reveal(),
            True,
        ),
        ("search", "UPSTASH_SEARCH_REST_TOKEN", synthetic.index_token().reveal(), True),
        ("vector-v1", "UPSTASH_VECTOR_REST_TOKEN", synthetic.index_token(layout="v1").reveal(), True),
        ("qstash", "QSTASH_TOKEN", synthetic.qstash_token().reveal(), True),
        ("signing-current", "QSTASH_CURRENT_SIGNING_KEY", synthetic.qstash_signing_key().reveal(), True),
        ("signing-next", "QSTASH_NEXT_SIGNING_KEY", synthetic.qstash_signing_key().reveal(), True),
        ("acl-token", "UPSTASH_REDIS_REST_TOKEN", synthetic.opaque_token().reveal(), True),
        ("redis-url-hexpw", "REDIS_URL", f"rediss://default:{secrets.token_hex(16)}@{host}:{port}", True),
        ("vercel", "VERCEL_TOKEN", synthetic.vercel_token().reveal(), False),
        ("vercel-legacy", "VERCEL_TOKEN", synthetic.vercel_legacy_token().reveal(), False),
    ]


def _forms(kind: str, key: str, value: str, host: str) -> list[tuple[str, list[str], int]]:
    """``(file name, lines, index of the credential line)`` for each form of one value."""
    is_url = value.startswith("rediss://")
    nb_line = f"{key}={value}\\n"
    nb = [
        "{",
        ' "cells": [',
        '  {"cell_type": "markdown", "metadata": {}, "source": ["# setup"]},',
        '  {"cell_type": "code", "execution_count": 1, "metadata": {},',
        f'   "outputs": [{{"name": "stdout", "output_type": "stream", "text": ["{nb_line}"]}}],',
        '   "source": ["import os; print(os.environ)"]}',
        " ],",
        ' "metadata": {}, "nbformat": 4, "nbformat_minor": 5',
        "}",
    ]
    forms = [
        (".env", ["# local", f"{key}={value}"], 1),
        (".env.production", [f'{key}="{value}"'], 0),
        ("config.json", ["{", f'  "{key.lower()}": "{value}",', '  "debug": false', "}"], 1),
        ("settings.yaml", ["app:", "  upstash:", f"    {key.lower()}: {value}"], 2),
        ("notebook.ipynb", nb, 4),
        (".zsh_history", [": 1700000000:0;ls", f": 1700000001:0;export {key}={value}"], 1),
    ]
    if not is_url:
        forms += [
            (
                "client.ts",
                [
                    'import { Redis } from "@upstash/redis"',
                    f'const r = new Redis({{ url: "https://{host}", token: "{value}" }})',
                ],
                1,
            ),
            ("settings.py", ["import os", f'TOKEN = "{value}"'], 1),
        ]
        if kind != "acl-token":  # an opaque ACL token is only recognisable by its context
            forms.append(("fixtures.json", ["[", f'  {{"id": 1, "value": "{value}"}}', "]"], 1))
        if key.startswith(("UPSTASH_REDIS", "KV_")):
            forms.append(
                (
                    "compose.yaml",
                    [
                        "services:",
                        "  app:",
                        "    environment:",
                        f"      - REDIS_URL=rediss://default:{value}@{host}:6379",
                    ],
                    3,
                )
            )
    return forms


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64_forms(kind: str, key: str, value: str, host: str) -> list[tuple[str, list[str], int]]:
    """``(file name, lines, index of the line where the blob starts)`` for each base64 wrapping."""
    dotenv = f"# app\nUPSTASH_REDIS_REST_URL=https://{host}\n{key}={value}\nLOG_LEVEL=info\n"
    forms = [
        (
            "secret.yaml",
            [
                "apiVersion: v1",
                "kind: Secret",
                "metadata:",
                "  name: app-env",
                "type: Opaque",
                "data:",
                f"  LOG_LEVEL: {_b64('info')}",
                f"  {key}: {_b64(value)}",
            ],
            7,
        ),
        (
            "secret.json",
            [
                "{",
                '  "apiVersion": "v1",',
                '  "kind": "Secret",',
                '  "metadata": {"name": "app-env"},',
                '  "data": {',
                f'    "{key}": "{_b64(value)}"',
                "  }",
                "}",
            ],
            5,
        ),
        (
            ".gitlab-ci.yml",
            ["variables:", f'  ENV_FILE_B64: "{_b64(dotenv)}"', "deploy:", "  script: make"],
            1,
        ),
        ("env.b64", [*textwrap.wrap(_b64(dotenv * 2), 76)], 0),
    ]
    if not value.startswith("rediss://"):
        user = "me@example.org" if kind == "acl-token" else "default"
        url = f"https://{host}/get/session" if kind != "acl-token" else "https://api.upstash.com/v2/teams"
        forms.append(
            (
                "requests.http",
                ["### read a key", f"GET {url}", f"Authorization: Basic {_b64(user + ':' + value)}", ""],
                2,
            )
        )
        if kind != "acl-token":  # an opaque token under a registry's key says nothing
            forms.append(
                (".npmrc", ["registry=https://registry.example.org/", f"_auth={_b64('ci:' + value)}"], 1)
            )
    return forms


def noise(corpus: Path) -> None:
    """Base64 that is not a credential: random bytes, a PNG data URI, JWTs, Secrets of random
    data, wrapped PEM-like blocks — none of it may produce an Upstash finding."""
    d = corpus / "noise"
    d.mkdir(parents=True, exist_ok=True)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(3000)).decode()
    (d / "inline.css").write_text(f".logo {{ background: url(data:image/png;base64,{png}); }}\n")
    jwt_parts = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890", "name": "Ada", "iat": 1700000000})
    ]
    jwt = ".".join([*jwt_parts, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")])
    (d / "auth.test.ts").write_text(
        f'const sample = "{jwt}";\nexpect(decode(sample).sub).toBe("1234567890");\n'
    )
    entries = "\n".join(
        f"  key{i}: {base64.b64encode(secrets.token_bytes(24 + i)).decode()}" for i in range(40)
    )
    (d / "tls-secret.yaml").write_text(f"apiVersion: v1\nkind: Secret\ntype: Opaque\ndata:\n{entries}\n")
    blobs = "\n".join(base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(2000))
    (d / "hashes.txt").write_text(blobs + "\n")
    pem = "\n".join(textwrap.wrap(base64.b64encode(secrets.token_bytes(1200)).decode(), 64))
    (d / "cert.pem").write_text(f"-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n")
    lorem = _b64(
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit; token counts and secret sauce. " * 20
    )
    (d / "fixture.json").write_text(json.dumps({"payload": lorem, "checksum": secrets.token_hex(32)}) + "\n")


def plant(corpus: Path, *, wrapped: bool = True) -> list[Planted]:
    """Write planted files (and append to some real files); returns where each credential is.

    ``wrapped=False`` leaves out the base64-wrapped forms (the corpus of earlier versions).
    """
    planted: list[Planted] = []
    host, _ = synthetic.upstash_host()
    for i, (kind, key, value, upstash) in enumerate(credentials() * 2):
        variants = [(False, _forms(kind, key, value, host))]
        if wrapped:
            variants.append((True, _b64_forms(kind, key, value, host)))
        for is_b64, forms in variants:
            for name, lines, idx in forms:
                rel = Path("planted") / f"app{i:02d}-{kind}" / name
                path = corpus / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + "\n")
                planted.append(Planted(str(rel), idx + 1, kind, upstash, is_b64))
    # credentials appended to real source files, deep in the tree
    real = sorted(p for p in (corpus / "copy0").rglob("*.py") if p.stat().st_size > 2000)
    picks = [real[(len(real) * k) // 12] for k in range(12)] if real else []
    for p, (kind, key, value, upstash) in zip(picks, credentials(), strict=False):
        text = p.read_text(encoding="utf-8", errors="replace")
        if not text.endswith("\n"):
            text += "\n"
        n = text.count("\n")
        p.write_text(text + f'{key} = "{value}"\n', encoding="utf-8")
        planted.append(Planted(str(p.relative_to(corpus)), n + 1, kind, upstash))
    return planted


def corpus_bytes(corpus: Path) -> int:
    """Total bytes of every file in the corpus."""
    return sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file() and not p.is_symlink())


def warm(corpus: Path) -> None:
    """Read every file once so no tool pays for the first disk read."""
    for p in corpus.rglob("*"):
        if p.is_file() and not p.is_symlink():
            p.read_bytes()


# -- tools --------------------------------------------------------------------------------------

Hit = tuple[str, int, str]
"""(relative path, line, rule) of one finding"""


def _bin(name: str) -> Path:
    return BENCH_VENV / "bin" / name


def _rel(path: str) -> str:
    return os.path.normpath(path.removeprefix("./"))


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text() or "null") or default
    except (OSError, ValueError):
        return default


@dataclass
class Tool:
    """How to run one scanner and read its findings."""

    name: str
    argv: Callable[[Path], list[str]]
    """the command, given where its report goes"""
    parse: Callable[[Path, str, Path], list[Hit]]
    """(report file, stdout, the directory it ran in) → findings"""
    available: Callable[[], bool]
    version: Callable[[], str]


def _keyroll_version() -> str:
    from keyroll import __version__

    return __version__


def _out_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def _keyroll_hits(report: Path, _: str, __: Path) -> list[Hit]:
    doc = _read_json(report, {})
    return [(_rel(f["path"]), int(f["line"]), f["rule_id"]) for f in doc.get("findings", [])]


def _kingfisher_hits(report: Path, _: str, __: Path) -> list[Hit]:
    doc = _read_json(report, {})
    out = []
    for item in doc.get("findings", []):
        f = item.get("finding", {})
        path = f.get("path") or (f.get("git_metadata") or {}).get("file", {}).get("path", "")
        out.append((_rel(str(path)), int(f.get("line", 0)), item.get("rule", {}).get("id", "?")))
    return out


def _betterleaks_hits(report: Path, _: str, __: Path) -> list[Hit]:
    doc = _read_json(report, {})
    items = doc.get("findings", []) if isinstance(doc, dict) else doc
    return [
        (
            _rel(str(f.get("location", {}).get("path", ""))),
            int(f.get("location", {}).get("start_line", 0)),
            f["rule_id"],
        )
        for f in items
    ]


def _trufflehog3_hits(report: Path, _: str, __: Path) -> list[Hit]:
    doc = _read_json(report, [])
    return [(_rel(item["path"]), int(item["line"]), str(item.get("rule", {}).get("id", "?"))) for item in doc]


def _detect_secrets_hits(_: Path, stdout: str, __: Path) -> list[Hit]:
    try:
        doc = json.loads(stdout or "{}")
    except ValueError:
        return []
    return [
        (_rel(path), int(item["line_number"]), item["type"])
        for path, items in doc.get("results", {}).items()
        for item in items
    ]


def _secretlint_hits(_: Path, stdout: str, cwd: Path) -> list[Hit]:
    try:
        doc = json.loads(stdout or "[]")
    except ValueError:
        return []
    return [
        (_rel(os.path.relpath(f["filePath"], cwd)), m["loc"]["start"]["line"], m.get("ruleId", "?"))
        for f in doc
        for m in f.get("messages", [])
    ]


RG_PATTERN = r"(?:[A-Za-z0-9_-]{4}(?:ASQg|AAI[A-Za-z0-9_+/-]cD|Krl0)|eyJVc2VySUQi|sig_[1-9A-HJ-NP-Za-km-z]{24,}|rediss?://[^:@/\s]*:[^@\s]+@[^\s]*upstash)"
"""one regex over the Upstash token anchors (and Redis URLs with a password): ripgrep's figure is
the cost of reading every byte plus one regex, a floor no full scanner gets below"""


def _rg_hits(_: Path, stdout: str, __: Path) -> list[Hit]:
    out = []
    for raw in stdout.splitlines():
        path, _, rest = raw.partition(":")
        num, _, _ = rest.partition(":")
        if num.isdigit():
            out.append((_rel(path), int(num), "one-regex"))
    return out


def tools(cwd_report: Path) -> dict[str, Tool]:
    """Every tool, by name (reports go under ``cwd_report``)."""
    exe = Path(sys.executable).parent / "keyroll"
    secretlint = NODE_PREFIX / "node_modules" / ".bin" / "secretlint"
    rc = cwd_report / "secretlintrc.json"
    return {
        "keyroll": Tool(
            "keyroll",
            lambda r: [str(exe), "scan", ".", "--json", "--out", str(r)],
            _keyroll_hits,
            exe.exists,
            _keyroll_version,
        ),
        "kingfisher": Tool(
            "kingfisher",
            lambda r: [
                str(_bin("kingfisher")),
                "scan",
                ".",
                "--no-validate",
                "--no-update-check",
                "--format",
                "json",
                "-o",
                str(r),
            ],
            _kingfisher_hits,
            _bin("kingfisher").exists,
            lambda: _out_of([str(_bin("kingfisher")), "--version"]),
        ),
        "betterleaks": Tool(
            "betterleaks",
            lambda r: [str(_bin("betterleaks")), "fs", ".", "--no-banner", "-s", "-o", str(r)],
            _betterleaks_hits,
            _bin("betterleaks").exists,
            lambda: _out_of([str(_bin("betterleaks")), "--version"]),
        ),
        "ripgrep": Tool(
            "ripgrep",
            lambda r: [
                str(_bin("rg")),
                "-n",
                "--no-heading",
                "--no-ignore",
                "--hidden",
                "-o",
                "-e",
                RG_PATTERN,
                ".",
            ],
            _rg_hits,
            _bin("rg").exists,
            lambda: _out_of([str(_bin("rg")), "--version"]),
        ),
        "trufflehog3": Tool(
            "trufflehog3",
            lambda r: [str(_bin("trufflehog3")), "--no-history", "-z", "-f", "json", "-o", str(r), "."],
            _trufflehog3_hits,
            _bin("trufflehog3").exists,
            lambda: _out_of([str(_bin("trufflehog3")), "--version"]),
        ),
        "detect-secrets": Tool(
            "detect-secrets",
            lambda r: [str(_bin("detect-secrets")), "scan", "--all-files", "."],
            _detect_secrets_hits,
            _bin("detect-secrets").exists,
            lambda: _out_of([str(_bin("detect-secrets")), "--version"]),
        ),
        "secretlint": Tool(
            "secretlint",
            lambda r: [str(secretlint), "--secretlintrc", str(rc), "--format", "json", "**/*", "**/.*"],
            _secretlint_hits,
            secretlint.exists,
            lambda: _out_of([str(secretlint), "--version"]),
        ),
    }


def ensure_secretlint() -> None:
    """secretlint + its recommended preset with npm into ``.venv-bench/node`` (once; needs npm)."""
    if (NODE_PREFIX / "node_modules" / ".bin" / "secretlint").exists() or shutil.which("npm") is None:
        return
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(NODE_PREFIX),
            "secretlint",
            "@secretlint/secretlint-rule-preset-recommend",
        ],
        capture_output=True,
        timeout=600,
        check=False,
    )


def run_tool(
    tool: Tool, cwd: Path, report: Path, git_argv: list[str] | None = None
) -> tuple[dict[str, Any], list[Hit]]:
    """One whole command: wall time from process start to exit, then its findings."""
    report.unlink(missing_ok=True)
    argv = git_argv if git_argv is not None else tool.argv(report)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    hits = tool.parse(report, stdout, cwd)
    sample: dict[str, Any] = {
        "wall_s": round(wall, 4),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
        "exit": proc.returncode,
        "findings": len(hits),
    }
    if tool.name == "keyroll":
        sample["in_process_s"] = round(_read_json(report, {}).get("summary", {}).get("seconds", 0.0), 4)
    return sample, hits


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """Where the planted credentials are."""

    upstash: set[tuple[str, int]]
    upstash_base64: set[tuple[str, int]]
    """the Upstash ones wrapped in base64"""
    all: set[tuple[str, int]]
    kinds: dict[tuple[str, int], str] = field(default_factory=dict)


def score(name: str, hits: list[Hit], truth: Truth) -> dict[str, Any]:
    """Recall on the planted Upstash credentials, and findings that were not planted, by rule."""
    at = {(p, n) for p, n, _ in hits}
    found = at & truth.upstash
    missed = Counter(truth.kinds[k] for k in truth.upstash - at)
    extra = Counter(rule for p, n, rule in hits if (p, n) not in truth.all)
    out: dict[str, Any] = {
        "recall": f"{len(found)}/{len(truth.upstash)}",
        "recall_pct": round(100 * len(found) / max(1, len(truth.upstash)), 1),
        "recall_base64": f"{len(at & truth.upstash_base64)}/{len(truth.upstash_base64)}",
        "extra_findings": sum(extra.values()),
        "extra_by_rule": dict(extra.most_common(15)),
        "missed_by_kind": dict(missed.most_common()),
    }
    if name == "keyroll":
        out["non_planted_upstash"] = sum(n for r, n in extra.items() if r in UPSTASH_RULES)
    return out


def timing(samples: list[dict[str, Any]], key: str = "wall_s") -> dict[str, float]:
    """min and median of one field."""
    xs = [float(s[key]) for s in samples if key in s]
    return {"min": round(min(xs), 3), "median": round(statistics.median(xs), 3)} if xs else {}


def compare(
    tool_list: dict[str, Tool],
    runs: int,
    cwd: Path,
    truth: Truth,
    git: bool = False,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """One warm-up per tool, then ``runs`` alternated rounds; samples and the summary per tool."""
    samples: dict[str, list[dict[str, Any]]] = {n: [] for n in tool_list}
    last: dict[str, list[Hit]] = {}

    def argv(t: Tool, report: Path) -> list[str] | None:
        return git_argv(t, report) if git else None

    if "keyroll" in tool_list:
        compile_keyroll()
    for t in tool_list.values():  # warm-up: Kingfisher's rule cache, keyroll's prefilter cache
        if t.name in SLOW_TOOLS:  # no cache to warm, and minutes per run
            continue
        run_tool(t, cwd, OUT / f"{t.name}-report.json", argv(t, OUT / f"{t.name}-report.json"))
    for i in range(runs):
        for t in tool_list.values():
            report = OUT / f"{t.name}-report.json"
            sample, hits = run_tool(t, cwd, report, argv(t, report))
            sample["load_1min"] = round(os.getloadavg()[0], 2)
            samples[t.name].append(sample)
            last[t.name] = hits
            line(f"  run {i + 1} {t.name}", f"{sample['wall_s']:.2f} s, {sample['findings']} findings")
    summary: dict[str, Any] = {}
    for name, ss in samples.items():
        summary[name] = {"wall_s": timing(ss), "cpu_s": timing(ss, "cpu_s"), **score(name, last[name], truth)}
        if name == "keyroll":
            summary[name]["in_process_s"] = timing(ss, "in_process_s")
    return samples, summary


def compile_keyroll() -> None:
    """Write keyroll's bytecode (``__pycache__``), as Python does on a user's first run and pip
    on install. Where ``PYTHONDONTWRITEBYTECODE`` is set (as in some sandboxes) nothing would
    write it for the editable install, and every timed run would compile keyroll's modules
    from source first: some 50 ms of start-up that no installed copy pays."""
    import compileall

    import keyroll

    for folder in keyroll.__path__:
        compileall.compile_dir(folder, quiet=1)


def git_argv(t: Tool, report: Path) -> list[str]:
    """The history-scanning command of a tool, run in the repository."""
    if t.name == "keyroll":
        return [*t.argv(report), "--git"]
    if t.name == "kingfisher":
        return [
            str(_bin("kingfisher")),
            "scan",
            ".",
            "--git-history",
            "full",
            "--no-validate",
            "--no-update-check",
            "--format",
            "json",
            "-o",
            str(report),
        ]
    if t.name == "betterleaks":
        return [str(_bin("betterleaks")), "git", ".", "--no-banner", "-s", "-o", str(report)]
    raise ValueError(t.name)


def ratios(summary: dict[str, Any]) -> dict[str, Any]:
    """keyroll against the faster of Kingfisher and Betterleaks, and against every tool (medians)."""
    k = summary.get("keyroll", {}).get("wall_s", {}).get("median")
    if not k:
        return {}
    out: dict[str, Any] = {}
    peers = {
        n: s["wall_s"]["median"]
        for n, s in summary.items()
        if n != "keyroll" and isinstance(s, dict) and s.get("wall_s")
    }
    strong = {n: v for n, v in peers.items() if n in ("kingfisher", "betterleaks")}
    if strong:
        best = min(strong, key=lambda n: strong[n])
        out["strongest_peer"] = best
        out["speedup_vs_strongest_peer"] = round(strong[best] / k, 2)
    out["speedup_vs"] = {n: round(v / k, 2) for n, v in peers.items()}
    kc = summary.get("keyroll", {}).get("cpu_s", {}).get("median")
    if kc:
        out["cpu_ratio_vs"] = {
            n: round(s["cpu_s"]["median"] / kc, 2)
            for n, s in summary.items()
            if n != "keyroll" and isinstance(s, dict) and s.get("cpu_s")
        }
    return out


# -- git history corpus -------------------------------------------------------------------------


def build_history(repo: Path, source: Path, commits: int) -> list[Planted]:
    """A repository of ``commits`` commits: real code added in slices, credentials planted along the
    way — some deleted again later (they live only in history), some changed in place."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    files = sorted(
        p for p in source.rglob("*") if p.is_file() and "planted" not in p.parts and "noise" not in p.parts
    )
    creds = credentials()
    planted: list[Planted] = []
    per = max(1, len(files) // commits)
    for c in range(commits):
        for p in files[c * per : (c + 1) * per]:
            target = repo / p.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
        if c % 8 == 3:  # a credential in a config file ...
            kind, key, value, upstash = creds[(c // 8) % len(creds)]
            rel = f"deploy/env{c:03d}/.env"
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(f"# deploy {c}\n{key}={value}\n")
            planted.append(Planted(rel, 2, kind, upstash))
        if c % 8 == 6 and (repo / f"deploy/env{c - 3:03d}/.env").exists():  # ... deleted three commits later
            git("rm", "-q", f"deploy/env{c - 3:03d}/.env")
        git("add", "-A")
        git("commit", "-q", "--allow-empty", "-m", f"commit {c}")
    return planted


# -- main ---------------------------------------------------------------------------------------


def write_result(
    name: str,
    runs: dict[str, Any],
    summary: dict[str, Any],
    params: dict[str, Any],
    versions: dict[str, str],
    load_start: list[float],
) -> None:
    """``bench/out/<name>.json``: raw samples, summary, machine, versions, command."""
    doc = {
        "name": name,
        "command": shlex.join([".venv/bin/python", "bench/scan.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git_commit(),
        "machine": {
            "summary": machine(),
            "cores": os.cpu_count(),
            "load_avg_start": load_start,
            "load_avg_end": list(os.getloadavg()),
        },
        "tool_versions": versions,
        "params": params,
        "runs": runs,
        "summary": summary,
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    line("result file", path.relative_to(ROOT))


def print_summary(summary: dict[str, Any]) -> None:
    """One line per tool, then the ratios."""
    for name, s in summary.items():
        if not isinstance(s, dict) or "wall_s" not in s:
            continue
        extra = f", in-process {s['in_process_s']['median']:.2f} s" if "in_process_s" in s else ""
        up = f", non-planted Upstash {s['non_planted_upstash']}" if "non_planted_upstash" in s else ""
        cpu = f", CPU {s['cpu_s']['median']:.2f} s" if s.get("cpu_s") else ""
        line(
            name,
            f"min {s['wall_s']['min']:.2f} / median {s['wall_s']['median']:.2f} s{cpu}{extra}, recall {s['recall']} "
            f"(base64 {s['recall_base64']}), not planted {s['extra_findings']} {s['extra_by_rule'] or ''}{up}",
        )
    if "ratios" in summary:
        line("ratios (median wall)", summary["ratios"])


def main() -> None:
    """Build the corpora, run every tool, print and write the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,220", help="corpus sizes of real code in MiB (comma-separated)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (alternated, after a warm-up)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="tools to compare (comma-separated)")
    ap.add_argument(
        "--slow-mib",
        type=int,
        default=8,
        help="trufflehog3, detect-secrets and secretlint (minutes per run on 64 MiB) are compared with "
        "keyroll on a corpus of this size instead, written as <name>-slow-peers (0: skip them)",
    )
    ap.add_argument("--git-commits", type=int, default=200, help="commits of the history corpus (0: skip)")
    ap.add_argument("--git-mib", type=int, default=32, help="real code in the history corpus (MiB)")
    ap.add_argument("--name", default="scan", help="result name of the first size (others: <name>-<MiB>)")
    ap.add_argument("--keep", action="store_true", help="keep the corpora in bench/out/scan")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be at least 3")
    wanted = [t for t in args.tools.split(",") if t]
    load_start = list(os.getloadavg())
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    if "secretlint" in wanted:
        ensure_secretlint()
    (OUT / "secretlintrc.json").write_text(
        json.dumps({"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]})
    )
    every = tools(OUT)
    missing = [t for t in wanted if t not in every or not every[t].available()]
    if missing:
        line("note", f"not installed, skipped: {', '.join(missing)} (run `make bench-env`)")
    chosen = {t: every[t] for t in wanted if t in every and every[t].available()}
    versions = {n: t.version() for n, t in chosen.items()}
    line("machine", f"{machine()}, load {load_start[0]:.2f}")
    line("versions", versions)

    fast = {n: t for n, t in chosen.items() if n not in SLOW_TOOLS}
    slow = {n: t for n, t in chosen.items() if n in SLOW_TOOLS or n == "keyroll"}
    plan = [
        (args.name if i == 0 else f"{args.name}-{mib}", mib, fast)
        for i, mib in enumerate(int(x) for x in args.sizes.split(",") if x)
    ]
    if args.slow_mib and len(slow) > 1:
        plan.append((f"{args.name}-slow-peers", args.slow_mib, slow))
    for name, mib, here in plan:
        corpus = OUT / f"corpus-{mib}"
        shutil.rmtree(corpus, ignore_errors=True)
        corpus.mkdir(parents=True)
        real = copy_real_code(corpus, mib * 1024 * 1024)
        planted = plant(corpus)
        noise(corpus)
        total = corpus_bytes(corpus)
        truth = Truth(
            upstash={(p.path, p.line) for p in planted if p.upstash},
            upstash_base64={(p.path, p.line) for p in planted if p.upstash and p.base64},
            all={(p.path, p.line) for p in planted},
            kinds={(p.path, p.line): p.kind for p in planted},
        )
        desc = (
            f"{total / 2**20:.1f} MiB ({real / 2**20:.1f} MiB real code, "
            f"{sum(1 for _ in corpus.rglob('*'))} paths), {len(planted)} planted "
            f"({len(truth.upstash)} Upstash, {len(truth.upstash_base64)} of them base64-wrapped)"
        )
        line(f"corpus {mib} MiB", desc)
        warm(corpus)
        runs, summary = compare(here, args.runs, corpus, truth)
        summary["ratios"] = ratios(summary)
        summary["corpus"] = desc
        print_summary(summary)
        write_result(
            name,
            runs,
            summary,
            {"corpus_mib": mib, "runs": args.runs, "warm_up_runs": 1},
            {n: versions[n] for n in here},
            load_start,
        )
        if not args.keep:
            shutil.rmtree(corpus, ignore_errors=True)

    if args.git_commits:
        source = OUT / "history-source"
        source.mkdir(parents=True)
        copy_real_code(source, args.git_mib * 1024 * 1024)
        repo = OUT / "history"
        planted = build_history(repo, source, args.git_commits)
        truth = Truth(
            upstash={(p.path, p.line) for p in planted if p.upstash},
            upstash_base64=set(),
            all={(p.path, p.line) for p in planted},
            kinds={(p.path, p.line): p.kind for p in planted},
        )
        desc = (
            f"git history of {args.git_commits} commits over {args.git_mib} MiB of real code, "
            f"{len(planted)} credentials planted (half of them deleted three commits later)"
        )
        line("corpus git", desc)
        here = {n: t for n, t in chosen.items() if n in GIT_TOOLS}
        runs, summary = compare(here, args.runs, repo, truth, git=True)
        summary["params_note"] = "keyroll --git, kingfisher --git-history full, betterleaks git"
        summary["ratios"] = ratios(summary)
        summary["corpus"] = desc
        print_summary(summary)
        write_result(
            f"{args.name}-git",
            runs,
            summary,
            {"commits": args.git_commits, "runs": args.runs},
            {n: versions[n] for n in here},
            load_start,
        )
        # the same history as a clone has it: every object in a pack (deltas), none loose
        packed = OUT / "history-packed"
        subprocess.run(["git", "clone", "-q", "--no-local", str(repo), str(packed)], check=True)
        line("corpus git packed", f"{desc}, cloned (all objects packed)")
        runs, summary = compare(here, args.runs, packed, truth, git=True)
        summary["params_note"] = "keyroll --git, kingfisher --git-history full, betterleaks git"
        summary["ratios"] = ratios(summary)
        summary["corpus"] = f"{desc}, cloned (all objects packed)"
        print_summary(summary)
        write_result(
            f"{args.name}-git-packed",
            runs,
            summary,
            {"commits": args.git_commits, "runs": args.runs, "packed": True},
            {n: versions[n] for n in here},
            load_start,
        )
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
