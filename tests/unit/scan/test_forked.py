"""Big directory scans on every core (scan.forked) and the walk that does not stat plain files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from keyroll.scan import forked, synthetic
from keyroll.scan.engine import ScanOptions, ScanResult, scan_paths
from keyroll.scan.reader import CHUNK_BYTES
from keyroll.scan.walk import FileEntry
from tests import canary as canary_mod

pytestmark = pytest.mark.skipif(not forked.available(), reason="fan-out by fork is Linux-only")


def token() -> str:
    value = synthetic.redis_token().reveal()
    canary_mod.register(value)
    return value


def _odd_tree(root: Path) -> int:
    """Hundreds of files and every odd case the hot loop handles; returns the planted count."""
    toks = [token() for _ in range(12)]
    for i in range(400):
        body = "def f(token):\n    return self.token  # token = None\n" * 20
        if i % 40 == 0:
            body += f"UPSTASH_REDIS_REST_TOKEN={toks[i // 40]}\n"
        (root / f"d{i % 7}").mkdir(exist_ok=True)
        (root / f"d{i % 7}" / f"m{i:03d}.py").write_text(body)
    (root / "blob.dat").write_bytes(b"\0\1\2" + toks[10].encode())  # binary
    (root / "latin1.env").write_bytes(b"caf\xe9\nKV_REST_API_TOKEN=" + toks[11].encode() + b"\n")
    (root / "utf16.txt").write_bytes(f"UPSTASH_REDIS_REST_TOKEN={toks[0]}\n".encode("utf-16"))
    (root / "hard.py").hardlink_to(root / "d0" / "m000.py")  # the same inode: a duplicate
    (root / "alias.py").symlink_to(root / "d5" / "m040.py")  # ... reached through a link too
    tail = token()  # past the first read of a file of unknown size
    (root / "mid.env").write_text("# filler\n" * 12_000 + f"UPSTASH_REDIS_REST_TOKEN={tail}\n")
    big = token()  # streamed in chunks
    (root / "big.log").write_text("x" * (CHUNK_BYTES + 10) + f"\nUPSTASH_REDIS_REST_TOKEN={big}\n")
    (root / "huge.log").write_text("y" * (CHUNK_BYTES * 2))  # over the limit the tests set
    return 10 + 2 + 1 + 1 + 1  # the 10 in .py files, blob + latin1, utf16, mid, big


def _shape(res: ScanResult) -> tuple[object, ...]:
    s = res.summary
    return (
        [(f.path, f.line, f.column, f.rule_id, f.fingerprint, f.form) for f in res.findings],
        s.files,
        s.bytes,
        s.skipped,
        s.invalid_utf8,
        s.binary,
    )


def test_forked_scan_gives_what_the_in_process_scan_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = _odd_tree(tmp_path)
    calls: list[int] = []
    real = forked.fan_out

    def spy(
        entries: Iterable[FileEntry],
        workers: int,
        work: Callable[[list[FileEntry]], object],
        hooks: forked.ChildHooks | None = None,
    ) -> Iterator[object]:
        calls.append(workers)
        return real(entries, workers, work, hooks)

    monkeypatch.setattr(forked, "fan_out", spy)
    limit = CHUNK_BYTES * 2 - 1
    inline = scan_paths([tmp_path], ScanOptions(jobs=1, max_file_bytes=limit))
    assert calls == []
    fanned = scan_paths([tmp_path], ScanOptions(jobs=2, inline_bytes=0, max_file_bytes=limit))
    assert calls == [2], "the forked path was not taken"
    assert _shape(fanned) == _shape(inline)
    s = fanned.summary
    assert s.skipped == {"duplicate": 2, "too_large": 1}
    assert s.binary == 1 and s.invalid_utf8 == 1
    assert len({f.fingerprint for f in fanned.findings if f.rule_id.startswith("upstash")}) >= planted - 1
    assert {Path(f.path).name for f in fanned.findings} >= {
        "blob.dat",
        "latin1.env",
        "utf16.txt",
        "mid.env",
        "big.log",
    }
    assert all(f.secret is None for f in fanned.findings)


def test_frames_carry_any_path_whole() -> None:
    odd = [
        FileEntry("a\nb.env", -1),
        FileEntry(os.fsdecode(b"caf\xe9.env"), 12),  # not UTF-8: surrogate-escaped
        FileEntry("d/" + "x" * 5000, -1),  # longer than a frame
        *(FileEntry(f"src/pkg/module_{i}.py", i) for i in range(300)),
    ]
    frames = list(forked.frames(odd))
    assert len(frames) > 3
    back: list[FileEntry] = []
    for batch, frame in frames:
        n = int.from_bytes(frame[:4], "little")
        assert n == len(frame) - 4
        assert len(frame) <= forked.FRAME_BYTES or len(batch) == 1
        assert forked.decode(frame[4:]) == batch
        back.extend(batch)
    assert back == odd


def test_a_failing_child_is_an_error() -> None:
    parent = os.getpid()

    def fail_in_child(batch: list[FileEntry]) -> int:
        if os.getpid() != parent:
            raise ValueError(f"cannot scan {len(batch)} files")
        time.sleep(0.01)
        return len(batch)

    entries = [FileEntry(f"f{i}", -1) for i in range(2000)]
    with pytest.raises(RuntimeError, match="ValueError: cannot scan"):
        list(forked.fan_out(entries, 2, fail_in_child))


def test_this_process_and_the_children_share_the_work() -> None:
    parent = os.getpid()

    def who(batch: list[FileEntry]) -> tuple[int, list[FileEntry]]:
        time.sleep(0.002)
        return os.getpid(), batch

    entries = [FileEntry(f"src/f{i}.py", -1) for i in range(5000)]
    results = list(forked.fan_out(entries, 3, who))
    assert sorted(e for _, b in results for e in b) == sorted(entries)  # each once
    by = {pid for pid, _ in results}
    assert parent in by and len(by) == 3


def test_an_interrupted_walk_stops_the_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.touch()

    def started() -> None:
        with open(pids, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")

    def walk() -> Iterator[FileEntry]:
        for i in range(2000):
            yield FileEntry(f"f{i}", -1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(pids.read_text().split()) < 2:
            time.sleep(0.01)  # both children running
        raise KeyboardInterrupt

    def slow(batch: list[FileEntry]) -> int:
        time.sleep(0.2)
        return len(batch)

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        list(forked.fan_out(walk(), 3, slow, forked.ChildHooks(start=started)))
    assert time.monotonic() - t0 < 8
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped


def test_hits_dropped_before_decoding_could_not_have_given_a_finding() -> None:
    """TextScanner.relevant_hits (bytes) drops only hits the generic detector rejects (text)."""
    from keyroll.scan.reader import scan_bytes
    from keyroll.scan.textscan import TextScanner

    value = "k7Qz9VtR2mXw4LpB8sNd"  # random-looking, 20 characters
    lines = [
        f"token = '{value}'",
        f'"apiKey": "{value}"',
        f"DB_PASSWORD={value}",
        f"access_key := {value}",
        f"secret_token => '{value}'",
        f"api-key: {value}",
        f"my.Token]  = b'{value}'",
        "token = None",
        "self.token = get_it()",
        "return token",
        f"token ={value[:15]}",  # one character short
        f"tokenizer_secret = '{value}'",
        f"café token = '{value}'",  # not ASCII before the anchor
    ]
    scanner = TextScanner()
    for line in lines:
        for text in (line + "\n", "x = 1\n" + line + "  # token\n"):
            data = text.encode()
            via_bytes = scan_bytes(data, "t.py", scanner, keep_values=False).findings
            via_text = scanner.scan(text, "t.py", keep_values=False).findings
            assert via_bytes == via_text, line
    assert scan_bytes(f"token = '{value}'\n".encode(), "t.py", scanner).findings  # something is found
    assert not scanner.relevant_hits(b"return self.token\n", scanner.anchor_hits(b"return self.token\n"))


def test_plain_files_are_stat_ed_only_where_listing_inodes_are_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyroll.scan import walk as walk_mod
    from keyroll.scan.findings import ScanSummary

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").hardlink_to(tmp_path / "a.py")
    dev = tmp_path.stat().st_dev

    def listed(fstype: str | None) -> tuple[list[FileEntry], ScanSummary]:
        monkeypatch.setattr(walk_mod, "mount_types", lambda: {} if fstype is None else {dev: fstype})
        summary = ScanSummary()
        return list(walk_mod.walk([tmp_path], summary)), summary

    for fstype in ("ext4", "xfs", "tmpfs"):
        entries, summary = listed(fstype)
        assert [e.size for e in entries] == [walk_mod.UNKNOWN_SIZE], fstype  # not stat'ed
        assert summary.skipped == {"duplicate": 1}  # the hard link, by the listing's inode
    for fstype in ("fuse.sshfs", "overlay", "nfs4", "virtiofs", None):
        entries, summary = listed(fstype)
        assert [e.size for e in entries] == [6], fstype  # stat'ed: a FUSE listing may repeat inodes
        assert summary.skipped == {"duplicate": 1}
    entries, _ = listed("ext4")
    sized = list(walk_mod.walk([tmp_path], ScanSummary(), sizes=True))
    assert [e.size for e in sized] == [6]  # a progress bar wants the sizes


def test_each_child_runs_its_end_hook_after_its_last_batch(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.touch()

    def note(what: str) -> Callable[[], None]:
        def write() -> None:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()} {what}\n")

        return write

    def work(batch: list[FileEntry]) -> int:
        note("batch")()
        return len(batch)

    entries = [FileEntry(f"f{i}", -1) for i in range(3000)]
    assert sum(forked.fan_out(entries, 3, work, forked.ChildHooks(note("start"), note("end")))) == 3000
    by_pid: dict[str, list[str]] = {}
    for line in log.read_text().split("\n")[:-1]:
        pid, what = line.split()
        by_pid.setdefault(pid, []).append(what)
    children = {pid: seq for pid, seq in by_pid.items() if pid != str(os.getpid())}
    assert len(children) == 2
    for seq in children.values():  # (a child may get no batch at all on a busy machine)
        assert seq[0] == "start" and seq[-1] == "end" and seq.count("end") == 1
    assert any("batch" in seq for seq in children.values())
