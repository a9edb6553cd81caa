"""Benchmark: ``keyroll scan`` vs detect-secrets, trufflehog3 (and secretlint with node) on one corpus.

The corpus is real source code (text files of this venv's site-packages, the system Python and
node modules, repeated up to the cap when they hold less) plus planted
credentials of every Upstash kind — and Vercel tokens — in varied forms (.env, quoted, JSON,
YAML, URLs, notebooks, JS/Python code, shell history, lines appended to real files) and wrapped
in base64 (Kubernetes Secret ``data:`` in YAML and JSON, ``Authorization: Basic``, ``.npmrc``
``_auth``, a base64 ``.env`` as a CI variable and as a wrapped file), plus base64 noise that must
stay silent (random bytes, a PNG data URI, JWTs, Secrets of random data). Each tool scans the
same directory (page cache warmed first). Printed per tool: wall time, MiB/s, findings, recall
on the planted Upstash credentials (a finding on the planted line counts; for a blob, the line
where it starts), the same for the base64-wrapped ones alone, and, for keyroll, Upstash-rule
findings outside planted lines (false positives on real code and the noise).

Competitors are installed on first use into ``~/.cache/keyroll-bench`` (a venv for the two
Python tools, an npm prefix for secretlint); a tool that cannot be installed is reported and
skipped. Planted values are random (keyroll.scan.synthetic) and never printed.

    python bench/scan.py [--corpus-mib 32] [--tools detect-secrets,trufflehog3,secretlint] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import line, machine, timed

from keyroll.scan import synthetic
from keyroll.scan.detectors import RULES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "scan"
CACHE = Path(os.environ.get("KEYROLL_BENCH_CACHE", Path.home() / ".cache" / "keyroll-bench"))
UPSTASH_RULES = {r.id for r in RULES.values() if r.upstash}


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
        CACHE / "node" / "node_modules",
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


def ensure_python_tools() -> Path | None:
    """A venv with detect-secrets and trufflehog3 (created once), or None if it cannot be built."""
    venv = CACHE / "venv"
    if (venv / "bin" / "detect-secrets").exists() and (venv / "bin" / "trufflehog3").exists():
        return venv
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "detect-secrets", "trufflehog3"],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        line("note", f"could not install detect-secrets/trufflehog3 ({type(exc).__name__}); skipping them")
        return None
    return venv


def ensure_secretlint() -> Path | None:
    """secretlint + its recommended preset in an npm prefix, when node/npm are present."""
    prefix = CACHE / "node"
    binary = prefix / "node_modules" / ".bin" / "secretlint"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        return None
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                "secretlint",
                "@secretlint/secretlint-rule-preset-recommend",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        line("note", f"could not install secretlint ({type(exc).__name__}); skipping it")
        return None
    return binary if binary.exists() else None


@dataclass
class Outcome:
    """One tool's run."""

    name: str
    seconds: float
    hits: set[tuple[str, int]]
    """(relative path, line) of every finding"""
    upstash_hits: set[tuple[str, int]] | None = None
    """keyroll only: findings of Upstash rules"""


def run_keyroll(corpus: Path, runs: int = 1) -> tuple[Outcome, float]:
    """``keyroll scan`` through its console script (startup included), ``runs`` times.

    Returns the outcome with the median wall time, and the median scanning-only time (the
    report's summary seconds: no interpreter start-up). The last run's findings are used.
    """
    report = OUT / "keyroll.json"
    exe = Path(sys.executable).parent / "keyroll"
    walls: list[float] = []
    engine: list[float] = []
    for _ in range(max(1, runs)):
        with timed() as t:
            subprocess.run(
                [str(exe), "scan", ".", "--json", "--output", str(report)], cwd=corpus, capture_output=True
            )
        walls.append(t["s"])
        engine.append(json.loads(report.read_text())["summary"]["seconds"])
    doc = json.loads(report.read_text())
    hits = {(_rel(f["path"]), f["line"]) for f in doc["findings"]}
    upstash = {(_rel(f["path"]), f["line"]) for f in doc["findings"] if f["rule_id"] in UPSTASH_RULES}
    return Outcome("keyroll", statistics.median(walls), hits, upstash), statistics.median(engine)


def run_detect_secrets(corpus: Path, venv: Path) -> Outcome:
    """``detect-secrets scan --all-files``."""
    with timed() as t:
        res = subprocess.run(
            [str(venv / "bin" / "detect-secrets"), "scan", "--all-files", "."],
            cwd=corpus,
            capture_output=True,
        )
    doc = json.loads(res.stdout or b"{}")
    hits = {
        (_rel(path), item["line_number"]) for path, items in doc.get("results", {}).items() for item in items
    }
    return Outcome("detect-secrets", t["s"], hits)


def run_trufflehog3(corpus: Path, venv: Path) -> Outcome:
    """``trufflehog3 --no-history`` (its JSON holds plaintext secrets: it stays in bench/out)."""
    report = OUT / "trufflehog3.json"
    with timed() as t:
        subprocess.run(
            [str(venv / "bin" / "trufflehog3"), "--no-history", "-z", "-f", "json", "-o", str(report), "."],
            cwd=corpus,
            capture_output=True,
        )
    doc = json.loads(report.read_text() or "[]") if report.exists() else []
    hits = {(_rel(item["path"]), int(item["line"])) for item in doc}
    return Outcome("trufflehog3", t["s"], hits)


def run_secretlint(corpus: Path, binary: Path) -> Outcome:
    """``secretlint`` with the recommended preset over every file."""
    rc = OUT / "secretlintrc.json"
    rc.write_text(json.dumps({"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]}))
    with timed() as t:
        res = subprocess.run(
            [str(binary), "--secretlintrc", str(rc), "--format", "json", "**/*", "**/.*"],
            cwd=corpus,
            capture_output=True,
        )
    try:
        doc = json.loads(res.stdout or b"[]")
    except ValueError:
        doc = []
    hits = {
        (_rel(os.path.relpath(f["filePath"], corpus)), m["loc"]["start"]["line"])
        for f in doc
        for m in f.get("messages", [])
    }
    return Outcome("secretlint", t["s"], hits)


def _rel(path: str) -> str:
    return os.path.normpath(path.removeprefix("./"))


# -- main ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """Where the planted credentials are."""

    upstash: set[tuple[str, int]]
    upstash_base64: set[tuple[str, int]]
    """the Upstash ones wrapped in base64"""
    all: set[tuple[str, int]]


def report(o: Outcome, total: int, truth: Truth) -> None:
    """Print one tool's line as soon as it has run."""
    found, found_b64 = o.hits & truth.upstash, o.hits & truth.upstash_base64
    fp = "n/a (no Upstash rules)" if o.upstash_hits is None else str(len(o.upstash_hits - truth.all))
    line(
        o.name,
        f"{o.seconds:.2f} s, {total / 2**20 / o.seconds:.1f} MiB/s, findings {len(o.hits)}, "
        f"Upstash recall {len(found) / len(truth.upstash):.1%} ({len(found)}/{len(truth.upstash)}), "
        f"base64-wrapped {len(found_b64) / max(1, len(truth.upstash_base64)):.1%} "
        f"({len(found_b64)}/{len(truth.upstash_base64)}), "
        f"Upstash-rule false positives on real code and base64 noise {fp}",
    )


def main() -> None:
    """Build the corpus, run every tool, print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus-mib", type=int, default=32, help="real source code to copy (MiB)")
    ap.add_argument(
        "--tools",
        default="detect-secrets,trufflehog3,secretlint",
        help="competitors to run (comma-separated)",
    )
    ap.add_argument("--runs", type=int, default=3, help="keyroll runs (the median time is printed)")
    ap.add_argument(
        "--no-base64",
        action="store_true",
        help="plant no base64-wrapped credentials and no base64 noise (the corpus of earlier versions)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the corpus in bench/out/scan")
    args = ap.parse_args()
    tools = set(args.tools.split(",")) if args.tools else set()

    corpus = OUT / "corpus"
    shutil.rmtree(OUT, ignore_errors=True)
    corpus.mkdir(parents=True)
    line("machine", machine())
    real = copy_real_code(corpus, args.corpus_mib * 1024 * 1024)
    planted = plant(corpus, wrapped=not args.no_base64)
    if not args.no_base64:
        noise(corpus)
    total = corpus_bytes(corpus)
    truth = Truth(
        upstash={(p.path, p.line) for p in planted if p.upstash},
        upstash_base64={(p.path, p.line) for p in planted if p.upstash and p.base64},
        all={(p.path, p.line) for p in planted},
    )
    line(
        "corpus",
        f"{total / 2**20:.1f} MiB ({real / 2**20:.1f} MiB real code), {len(planted)} planted "
        f"({len(truth.upstash)} Upstash, {len(truth.upstash_base64)} of them base64-wrapped)",
    )
    warm(corpus)

    keyroll, engine_s = run_keyroll(corpus, args.runs)
    report(keyroll, total, truth)
    line(
        f"keyroll scanning only (summary time, without interpreter start-up; median of {max(1, args.runs)})",
        f"{engine_s:.2f} s, {total / 2**20 / engine_s:.1f} MiB/s",
    )
    others: list[Outcome] = []
    venv = ensure_python_tools() if tools & {"detect-secrets", "trufflehog3"} else None
    if venv and "trufflehog3" in tools:
        others.append(run_trufflehog3(corpus, venv))
        report(others[-1], total, truth)
    if venv and "detect-secrets" in tools:
        others.append(run_detect_secrets(corpus, venv))
        report(others[-1], total, truth)
    binary = ensure_secretlint() if "secretlint" in tools else None
    if binary:
        others.append(run_secretlint(corpus, binary))
        report(others[-1], total, truth)
    elif "secretlint" in tools:
        line("note", "secretlint skipped (no node/npm)")
    if others:
        fastest = min(others, key=lambda o: o.seconds)
        line("fastest other", fastest.name)
        line("throughput vs fastest other", f"{fastest.seconds / keyroll.seconds:.1f}x")
        line("throughput vs fastest other, scanning only", f"{fastest.seconds / engine_s:.1f}x")
    missed = truth.upstash - keyroll.hits
    if missed:
        kinds = sorted({p.kind + ":" + Path(p.path).name for p in planted if (p.path, p.line) in missed})
        line("keyroll missed", ", ".join(kinds))
    if not args.keep:
        shutil.rmtree(corpus, ignore_errors=True)


if __name__ == "__main__":
    main()
