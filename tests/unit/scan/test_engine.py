"""The file engine: walking, odd inputs (counted, never fatal), chunking, ignore files, the pool."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from keyroll.core.secret import fingerprint_of
from keyroll.scan import synthetic
from keyroll.scan.engine import ScanOptions, scan_paths, scan_stdin
from keyroll.scan.reader import scan_stream
from keyroll.scan.textscan import TextScanner
from tests import canary as canary_mod


def token() -> str:
    value = synthetic.redis_token().reveal()
    canary_mod.register(value)
    return value


def test_binary_files_are_searched_and_odd_inputs_counted(tmp_path: Path) -> None:
    tok = token()
    (tmp_path / "image.png").write_bytes(b"\x89PNG" + tok.encode())
    (tmp_path / "blob.dat").write_bytes(b"\0\1\2" + tok.encode())
    (tmp_path / "latin1.env").write_bytes(
        b"caf\xe9 \xff\xfe\nUPSTASH_REDIS_REST_TOKEN=" + tok.encode() + b"\n"
    )
    (tmp_path / "utf16.txt").write_bytes(f"UPSTASH_REDIS_REST_TOKEN={tok}\n".encode("utf-16"))
    os.mkfifo(tmp_path / "pipe")
    res = scan_paths([tmp_path], ScanOptions(jobs=1))
    s = res.summary
    assert s.skipped == {"binary": 1, "special": 1}  # a PNG cannot hold plain bytes; blob.dat can
    assert s.invalid_utf8 == 1 and s.files == 3 and s.binary == 1
    assert sorted((Path(f.path).name, f.line, f.form.value) for f in res.findings) == [
        ("blob.dat", 1, "binary"),
        ("latin1.env", 2, "plain"),
        ("utf16.txt", 1, "plain"),
    ]


def test_big_binary_is_searched_in_chunks(tmp_path: Path) -> None:
    tok = token()
    blob = bytearray(os.urandom(3 * 1024 * 1024).replace(b"\0", b"\1"))
    blob[10] = 0  # binary from the first 8 KiB on
    cut = 2 * 1024 * 1024 - 10  # across a chunk boundary
    blob[cut : cut + 2] = b"\0\0"
    blob[cut + 2 : cut + 2 + len(tok)] = tok.encode()
    blob[cut + 2 + len(tok)] = 0
    (tmp_path / "core.dump").write_bytes(bytes(blob))
    with open(tmp_path / "core.dump", "rb") as fh:
        res = scan_stream(fh, "core.dump", TextScanner(), chunk_bytes=1024 * 1024)
    assert res.binary and [f.form.value for f in res.findings] == ["binary"]
    assert res.findings[0].fingerprint == fingerprint_of(tok)


def test_unreadable_file_is_counted(tmp_path: Path) -> None:
    target = tmp_path / "secret.env"
    if os.geteuid() == 0:
        # root reads anything; a file whose reads fail is /proc/self/mem (EIO at offset 0)
        target.symlink_to("/proc/self/mem")
    else:
        target.write_text("x")
        target.chmod(0)
    (tmp_path / "ok.txt").write_text("nothing here\n")
    res = scan_paths([tmp_path], ScanOptions(jobs=1))
    assert res.summary.skipped.get("unreadable") == 1 and res.summary.files == 1


def test_symlink_loops_and_duplicates(tmp_path: Path) -> None:
    tok = token()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "app.env").write_text(f"UPSTASH_REDIS_REST_TOKEN={tok}\n")
    (tmp_path / "d" / "loop").symlink_to(tmp_path)  # back to an ancestor
    (tmp_path / "self").symlink_to(tmp_path / "self")  # ELOOP
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "alias.env").symlink_to(tmp_path / "d" / "app.env")
    res = scan_paths([tmp_path], ScanOptions(jobs=1))
    s = res.summary
    assert s.skipped.get("symlink_loop") == 2
    assert s.skipped.get("missing") == 1 and s.skipped.get("duplicate") == 1
    assert len(res.findings) == 1 and s.files == 1


def test_missing_target_is_counted_with_a_warning(tmp_path: Path) -> None:
    res = scan_paths([tmp_path / "nope"], ScanOptions(jobs=1))
    assert res.summary.skipped == {"missing": 1} and res.summary.warnings


def test_too_large_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "big.log").write_bytes(b"x" * 4096)
    res = scan_paths([tmp_path], ScanOptions(jobs=1, max_file_bytes=1024))
    assert res.summary.skipped == {"too_large": 1} and res.summary.files == 0


def test_huge_single_line_streams_in_chunks_and_finds_boundary_tokens() -> None:
    toks = [token() for _ in range(6)]
    # one line, several MiB-equivalents at a 64 KiB chunk size, tokens straddling chunk edges
    parts, pos = [], 0
    for i, t in enumerate(toks):
        filler = "ab;" * ((65536 * (i + 1) - pos - 20) // 3)
        parts.append(filler)
        pos += len(filler)
        parts.append(f" KV_REST_API_TOKEN={t} ")
        pos += len(parts[-1])
    text = "".join(parts)
    res = scan_stream(io.BytesIO(text.encode()), "min.js", TextScanner(), chunk_bytes=65536)
    assert [f.preview for f in res.findings] == [f"{t[:4]}…{t[-4:]}" for t in toks]
    assert [f.column for f in res.findings] == [text.index(t) + 1 for t in toks]
    assert all(f.line == 1 and f.key == "KV_REST_API_TOKEN" for f in res.findings)


def test_chunked_lines_and_columns_match_whole_scan() -> None:
    toks = [token() for _ in range(40)]
    lines = []
    for i in range(4000):
        lines.append(
            f"{'é' * (i % 7)}QSTASH_TOKEN={toks[i // 100]}" if i % 100 == 50 else f"line {i} ünïcode"
        )
    data = ("\n".join(lines) + "\n").encode()
    whole = TextScanner().scan(data.decode(), "f").findings
    chunked = scan_stream(io.BytesIO(data), "f", TextScanner(), chunk_bytes=8192).findings
    assert [(f.line, f.column, f.fingerprint) for f in chunked] == [
        (f.line, f.column, f.fingerprint) for f in whole
    ]
    assert len(whole) == 40


def test_keyrollignore_and_git_dir_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = token()
    for rel in ("fixtures/a.env", "src/b.env", ".git/config", "logs/c.log"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"UPSTASH_REDIS_REST_TOKEN={tok}\n")
    (tmp_path / ".keyrollignore").write_text("fixtures/\n*.log\n")
    monkeypatch.chdir(tmp_path)
    res = scan_paths([Path(".")], ScanOptions(jobs=1))
    assert [f.path for f in res.findings] == ["src/b.env"]
    assert res.summary.skipped.get("ignored") == 2


def test_pool_gives_the_same_findings_as_inline(tmp_path: Path) -> None:
    toks = [token() for _ in range(30)]
    for i, t in enumerate(toks):
        (tmp_path / f"f{i:02d}.env").write_text("# filler\n" * 2000 + f"UPSTASH_REDIS_REST_TOKEN={t}\n")
    inline = scan_paths([tmp_path], ScanOptions(jobs=1))
    pooled = scan_paths([tmp_path], ScanOptions(jobs=2, inline_bytes=0))
    assert [(f.path, f.line, f.fingerprint) for f in pooled.findings] == [
        (f.path, f.line, f.fingerprint) for f in inline.findings
    ]
    assert len(pooled.findings) == 30 and pooled.summary.files == 30
    assert all(f.secret is None for f in pooled.findings)


def test_keep_values_attaches_secrets(tmp_path: Path) -> None:
    tok = token()
    (tmp_path / "a.env").write_text(f"KV_REST_API_TOKEN={tok}\n")
    (f,) = scan_paths([tmp_path], ScanOptions(keep_values=True)).findings
    assert f.secret is not None and f.secret.reveal() == tok


def test_stdin_stream() -> None:
    tok = token()
    res = scan_stdin(io.BytesIO(f"curl -H 'x' ; KV_REST_API_TOKEN={tok}\n".encode()), ScanOptions())
    assert [f.path for f in res.findings] == ["<stdin>"] and res.summary.files == 1


def _slow_batch(arg: tuple[str, int]) -> int:
    """A batch that takes a while and leaves a trace of having run."""
    import time

    path, i = arg
    time.sleep(0.15)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{i}\n")
    return i


def test_stopping_a_pooled_scan_drops_the_queued_batches(tmp_path: Path) -> None:
    """Ctrl-C (or any stop) while batches are queued must not work through them all first."""
    from keyroll.scan.workers import WorkerConfig, run_batches

    trace = tmp_path / "ran"
    trace.touch()
    batches = [(str(trace), i) for i in range(30)]
    gen = run_batches(_slow_batch, batches, WorkerConfig(), 2, inline=False)
    next(gen)
    gen.close()  # what an exception in the consumer does to the generator
    ran = len(trace.read_text().split())
    assert ran < len(batches) // 2, f"{ran} of {len(batches)} batches ran after the stop"


def test_default_workers_follow_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyroll.scan import engine

    monkeypatch.setattr(engine.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(engine, "running_others", lambda: None)  # no /proc: the average alone
    for load, expected in ((0.0, 4), (1.2, 3), (3.9, 1), (12.0, 1)):
        monkeypatch.setattr(engine.os, "getloadavg", lambda load=load: (load, load, load))
        assert ScanOptions().workers == expected, load
    # the average lags: what runs now (fewer) counts; more running now than on average does not
    monkeypatch.setattr(engine.os, "getloadavg", lambda: (3.9, 3.0, 2.0))
    for now, expected in ((0, 4), (2, 2), (9, 1)):
        monkeypatch.setattr(engine, "running_others", lambda now=now: now)
        assert ScanOptions().workers == expected, now
    monkeypatch.setattr(engine.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(engine, "running_others", lambda: 6)
    assert ScanOptions().workers == 4
    assert ScanOptions(jobs=3).workers == 3 and ScanOptions(jobs=3, keep_values=True).workers == 1


def test_compiled_prefilter_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("hyperscan")
    from keyroll.scan import prefilter

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("KEYROLL_NO_CACHE", raising=False)
    data = b"x ASQg y token= sig_"
    prefilter._compiled.cache_clear()
    expected = sorted(prefilter.make_prefilter(["ASQg", "token", "sig_"], "hyperscan").find(data))
    (cached,) = (tmp_path / "keyroll").glob("prefilter-*.hsdb")
    prefilter._compiled.cache_clear()  # a new process: loads the file
    assert sorted(prefilter.make_prefilter(["ASQg", "token", "sig_"], "hyperscan").find(data)) == expected
    cached.write_bytes(b"garbage")  # a broken cache file is compiled again, and replaced
    prefilter._compiled.cache_clear()
    assert sorted(prefilter.make_prefilter(["ASQg", "token", "sig_"], "hyperscan").find(data)) == expected
    assert cached.read_bytes() != b"garbage"
    prefilter._compiled.cache_clear()
