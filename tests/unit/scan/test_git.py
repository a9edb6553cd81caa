"""Git history: deleted files, branches, --since, blobs scanned once, non-git paths."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from keyroll.core.errors import ScanError
from keyroll.scan import git as git_mod
from keyroll.scan import synthetic
from keyroll.scan.engine import ESTIMATED_SIZE, ScanOptions
from keyroll.scan.git import find_repo, history_blobs, scan_git
from keyroll.scan.git_walk import History, walk_history
from tests import canary as canary_mod


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+00:00",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+00:00",
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str | None]) -> str:
    for name, content in files.items():
        p = repo / name
        if content is None:
            git(repo, "rm", "-q", name)
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    return r


def tok(kind: str = "redis") -> str:
    value = (synthetic.redis_token() if kind == "redis" else synthetic.qstash_token()).reveal()
    canary_mod.register(value)
    return value


def test_deleted_file_is_found_at_the_commit_that_added_it(repo: Path) -> None:
    t = tok()
    commit(repo, "readme", {"README.md": "hello\n"})
    added = commit(repo, "oops", {"app/.env": f"# env\nUPSTASH_REDIS_REST_TOKEN={t}\n"})
    commit(repo, "edit", {"app/.env": f"# env v2\n\nUPSTASH_REDIS_REST_TOKEN={t}\n"})
    commit(repo, "remove", {"app/.env": None})
    res = scan_git([repo], ScanOptions(jobs=1))
    (f,) = res.findings
    assert (f.path, f.line, f.commit, f.occurrences) == ("app/.env", 2, added, 2)
    assert f.author_date.startswith("2026-01-02")
    assert res.summary.commits == 4 and res.summary.blobs == 3


def test_branches_need_all_refs_and_since_limits_range(repo: Path) -> None:
    t1, t2 = tok(), tok("qstash")
    base = commit(repo, "one", {"a.env": f"KV_REST_API_TOKEN={t1}\n"})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "two", {"b.env": f"QSTASH_TOKEN={t2}\n"})
    git(repo, "checkout", "-q", "main")
    head_only = scan_git([repo], ScanOptions(jobs=1))
    assert [f.path for f in head_only.findings] == ["a.env"]
    everything = scan_git([repo], ScanOptions(jobs=1), all_refs=True)
    assert sorted(f.path for f in everything.findings) == ["a.env", "b.env"]
    since = scan_git([repo], ScanOptions(jobs=1), all_refs=True, since=base)
    assert [f.path for f in since.findings] == ["b.env"]
    with pytest.raises(ScanError, match="--since"):
        scan_git([repo], ScanOptions(jobs=1), since="no-such-rev")


def test_each_blob_is_listed_once_across_paths_and_merges(repo: Path) -> None:
    t = tok()
    commit(repo, "one", {"a.env": f"KV_REST_API_TOKEN={t}\n"})
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, "copy", {"copy/a.env": f"KV_REST_API_TOKEN={t}\n"})  # same content → same blob
    git(repo, "checkout", "-q", "main")
    commit(repo, "other", {"c.txt": "c\n"})
    git(repo, "merge", "-q", "--no-edit", "side")
    hist = history_blobs(find_repo(repo) or pytest.fail("no repo"), all_refs=True)
    blob_paths = {sha: sorted(i.path for i in intros) for sha, intros in hist.blobs.items()}
    assert ["a.env", "copy/a.env"] in blob_paths.values()
    res = scan_git([repo], ScanOptions(jobs=1))
    assert sorted(f.path for f in res.findings) == ["a.env", "copy/a.env"]


def test_pool_matches_inline_on_history(repo: Path) -> None:
    toks = [tok() for _ in range(12)]
    for i, t in enumerate(toks):
        commit(repo, f"c{i}", {f"f{i}.env": "# x\n" * 500 + f"KV_REST_API_TOKEN={t}\n"})
    inline = scan_git([repo], ScanOptions(jobs=1))
    pooled = scan_git([repo], ScanOptions(jobs=2, inline_bytes=0))
    assert sorted((f.path, f.fingerprint) for f in pooled.findings) == sorted(
        (f.path, f.fingerprint) for f in inline.findings
    )
    assert len(pooled.findings) == 12


def test_keyrollignore_applies_to_history(repo: Path) -> None:
    t = tok()
    commit(
        repo,
        "one",
        {"tests/fixtures/x.env": f"KV_REST_API_TOKEN={t}\n", ".keyrollignore": "tests/fixtures/\n"},
    )
    assert scan_git([repo], ScanOptions(jobs=1)).findings == []


def test_not_a_repository(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ScanError, match="not a git repository"):
        scan_git([plain])
    commit(repo, "one", {"x.txt": "x\n"})
    mixed = scan_git([plain, repo], ScanOptions(jobs=1))
    assert mixed.summary.skipped == {"not_git": 1} and mixed.summary.warnings


def test_empty_repository_has_nothing_to_scan(repo: Path) -> None:
    res = scan_git([repo], ScanOptions(jobs=1))
    assert res.findings == [] and res.summary.commits == 0


def test_the_walk_hands_on_each_blob_once_at_its_first_kept_path(repo: Path) -> None:
    commit(repo, "one", {"a.txt": "same\n", "vendor/a.txt": "same\n", "vendor/only.txt": "v\n"})
    commit(repo, "two", {"b.txt": "same\n", "a.txt": "new\n"})
    hist = History()
    found = list(
        walk_history(
            find_repo(repo) or pytest.fail("no repo"), hist, keep=lambda p: not p.startswith("vendor/")
        )
    )
    assert [path for _, path in found] == ["a.txt", "a.txt"]  # "same" at a.txt, then "new"
    assert len({sha for sha, _ in found}) == 2 and hist.commits == 2
    (same,) = [sha for sha, intros in hist.blobs.items() if len(intros) == 2]
    assert [i.path for i in hist.blobs[same]] == ["a.txt", "b.txt"]  # vendor/a.txt not kept
    assert len(hist.ignored - hist.blobs.keys()) == 1  # vendor/only.txt: ignored everywhere


def test_blobs_over_the_limit_are_counted_not_scanned(repo: Path) -> None:
    t = tok()
    commit(
        repo,
        "one",
        {"big.env": "#" * 5000 + f"\nKV_REST_API_TOKEN={t}\n", "small.env": f"KV_REST_API_TOKEN={t}\n"},
    )
    for jobs, inline in ((1, 4 << 20), (2, 0)):  # in-process, and in forked workers
        res = scan_git([repo], ScanOptions(jobs=jobs, inline_bytes=inline, max_file_bytes=1000))
        assert [f.path for f in res.findings] == ["small.env"]
        assert res.summary.skipped == {"too_large": 1} and res.summary.blobs == 1


def test_a_missing_blob_is_counted_unreadable(repo: Path) -> None:
    t = tok()
    commit(repo, "one", {"gone.txt": "lost\n", "a.env": f"KV_REST_API_TOKEN={t}\n"})
    sha = git(repo, "rev-parse", "HEAD:gone.txt")
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()  # a broken clone
    for jobs, inline in ((1, 4 << 20), (2, 0)):
        res = scan_git([repo], ScanOptions(jobs=jobs, inline_bytes=inline))
        assert [f.path for f in res.findings] == ["a.env"]
        assert res.summary.skipped == {"unreadable": 1} and res.summary.blobs == 1


def test_without_fork_a_pool_reads_the_blobs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toks = [tok() for _ in range(6)]
    for i, t in enumerate(toks):
        commit(repo, f"c{i}", {f"f{i}.env": "# x\n" * 500 + f"KV_REST_API_TOKEN={t}\n"})
    monkeypatch.setattr("keyroll.scan.git.forked.available", lambda: False)
    monkeypatch.setattr("keyroll.scan.git.STREAM_BATCH_BYTES", 2 * ESTIMATED_SIZE)  # 3 batches
    seen: list[int] = []
    real = git_mod.run_batches

    def spy(func: Any, tasks: Any, *args: Any, **kw: Any) -> Any:
        seen.append(len(tasks))
        assert kw["inline"] is False
        return real(func, tasks, *args, **kw)

    monkeypatch.setattr(git_mod, "run_batches", spy)
    res = scan_git([repo], ScanOptions(jobs=2, inline_bytes=0))
    assert sorted(f.path for f in res.findings) == [f"f{i}.env" for i in range(6)]
    assert res.summary.blobs == 6 and seen == [3]


def test_in_process_one_reader_serves_every_batch(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        commit(repo, f"c{i}", {f"f{i}.txt": f"{i}\n"})
    monkeypatch.setattr("keyroll.scan.git.STREAM_BATCH_BYTES", ESTIMATED_SIZE)  # a batch a blob
    started: list[list[str]] = []
    real = subprocess.Popen

    def spy(cmd: list[str], *args: Any, **kw: Any) -> Any:
        if "cat-file" in cmd:
            started.append(cmd)
        return real(cmd, *args, **kw)

    monkeypatch.setattr("keyroll.scan.git_blobs.subprocess.Popen", spy)
    res = scan_git([repo], ScanOptions(jobs=1))
    assert res.summary.blobs == 4 and len(started) == 1


def test_sha256_repository_deletions_are_not_blobs(tmp_path: Path) -> None:
    r = tmp_path / "s256"
    r.mkdir()
    git(r, "init", "-q", "--object-format=sha256", "-b", "main")
    t = tok()
    commit(r, "one", {"a.env": f"KV_REST_API_TOKEN={t}\n"})
    commit(r, "two", {"a.env": None})
    res = scan_git([r], ScanOptions(jobs=1))
    assert [f.path for f in res.findings] == ["a.env"] and len(res.findings[0].commit) == 64
    assert res.summary.skipped == {} and res.summary.blobs == 1
