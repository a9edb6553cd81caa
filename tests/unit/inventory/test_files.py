"""Local files and git history: known values in every form, one matcher pass."""

from __future__ import annotations

import base64
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from keyroll.core.errors import UsageError
from keyroll.core.model import CredentialKind, Form, LocationKind, Product
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.inventory.files import is_dotenv, scan_files
from keyroll.inventory.git import check_git_repo, scan_git
from keyroll.scan.known import KnownValues
from tests.fakes.common import token
from tests.fakes.world import FakeWorld

TOKEN = token("AX")
PW = "p@ss/word+" + token("pw")[:20]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / ".vercel").mkdir()
    (tmp_path / ".env.local").write_text(f'UPSTASH_REDIS_REST_TOKEN="{TOKEN}"\nOTHER=1\n')
    (tmp_path / ".vercel" / ".env.production.local").write_text(f"KV_REST_API_TOKEN={TOKEN}\n")
    (tmp_path / "config.yaml").write_text(
        f"redis:\n  url: rediss://default:{urllib.parse.quote(PW, safe='')}@eu1.upstash.io:6379\n"
    )
    (tmp_path / "k8s.yaml").write_text(f"data:\n  token: {base64.b64encode(TOKEN.encode()).decode()}\n")
    (tmp_path / ".bash_history").write_text(f"ls\ncurl -H 'Authorization: Bearer {TOKEN}' https://x\n")
    (tmp_path / "README.md").write_text("nothing here\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + TOKEN.encode())
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text(TOKEN)
    return tmp_path


def test_files_every_form(tree: Path) -> None:
    kv = KnownValues([Secret(TOKEN), Secret(PW)])
    scan = scan_files((tree,), kv)
    got = {(Path(h.path).name, h.line, h.form) for h in scan.hits}
    assert got == {
        (".env.local", 1, Form.QUOTED),
        (".env.production.local", 1, Form.PLAIN),
        ("config.yaml", 2, Form.URL_ENCODED),
        ("k8s.yaml", 2, Form.BASE64),
        (".bash_history", 2, Form.PLAIN),
    }
    assert scan.skipped_binary == 1
    assert {h.key for h in scan.hits if Path(h.path).name.startswith(".env")} == {
        "UPSTASH_REDIS_REST_TOKEN",
        "KV_REST_API_TOKEN",
    }
    assert scan.sightings == []  # every dotenv credential was a known value


def test_dotenv_values_nobody_else_knows_are_reported(tmp_path: Path) -> None:
    stale = token("AX")
    (tmp_path / ".env").write_text(
        f"QSTASH_TOKEN={stale}\nREDIS_URL=redis://localhost:6379\nUPSTASH_REDIS_REST_URL=https://x.upstash.io\n"
        "KV_REST_API_TOKEN=short\n"
    )
    scan = scan_files((tmp_path,), KnownValues([]))
    assert [(s.secret.fingerprint, s.key_class.product, s.hit.line) for s in scan.sightings] == [
        (fingerprint_of(stale), Product.QSTASH, 1),
        (fingerprint_of("short"), Product.REDIS, 4),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".env", True),
        (".env.local", True),
        ("prod.env", True),
        (".env.production.local", True),
        ("env.py", False),
    ],
)
def test_is_dotenv(name: str, expected: bool) -> None:
    assert is_dotenv(Path(name)) is expected


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": "2026-04-01T10:00:00+00:00",
            "GIT_COMMITTER_DATE": "2026-04-01T10:00:00+00:00",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q", "-b", "main")
    (r / "app.py").write_text("print('hi')\n")
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "init")
    (r / "app.py").write_text(f"print('hi')\nTOKEN = '{TOKEN}'\n")
    (r / "docs.md").write_text(f"use `{base64.b64encode(TOKEN.encode()).decode()}`\n")
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "oops")
    (r / "app.py").write_text("print('hi')\nTOKEN = os.environ['T']\n")
    (r / "docs.md").unlink()
    _git(r, "add", "-A")
    _git(r, "commit", "-q", "-m", "remove the token")
    _git(r, "checkout", "-q", "-b", "side")
    (r / "side.env").write_text(f"X={TOKEN}\n")
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "side branch")
    _git(r, "checkout", "-q", "main")
    return r


def test_git_history_every_ref(repo: Path) -> None:
    scan = scan_git(repo, KnownValues([Secret(TOKEN)]))
    oops = _git(repo, "rev-parse", "main~1")
    side = _git(repo, "rev-parse", "side")
    got = {(h.commit, h.path, h.line, h.form) for h in scan.hits}
    assert got == {
        (oops, "app.py", 2, Form.QUOTED),
        (oops, "docs.md", 1, Form.BASE64),
        (side, "side.env", 1, Form.PLAIN),
    }
    assert all(h.author_date.startswith("2026-04-01") for h in scan.hits)
    assert scan.commits == 4 and not scan.unknowns


def test_check_git_repo(tmp_path: Path, repo: Path) -> None:
    check_git_repo(repo)
    with pytest.raises(UsageError):
        check_git_repo(tmp_path / "nope")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UsageError, match="not a git repository"):
        check_git_repo(plain)


async def test_take_inventory_with_files_and_git(tree: Path, repo: Path) -> None:
    world = FakeWorld()
    world.add_db("cache", host="eu1-cache.upstash.io").reset(rest_token=TOKEN)
    stale = token("AX")
    (tree / ".env.old").write_text(f"UPSTASH_REDIS_REST_TOKEN={stale}\n")
    inv = await take_inventory(
        world.providers(only={"vercel", "upstash"}),
        InventoryOptions(paths=(tree,), git_repos=(repo,)),
    )
    fp = fingerprint_of(TOKEN)
    kinds = [loc.kind for loc in inv.locations_of(fp)]
    assert kinds.count(LocationKind.FILE) == 4  # config.yaml holds PW, which is not known here
    assert kinds.count(LocationKind.GIT_COMMIT) == 3
    old = inv.credential(fingerprint_of(stale))
    assert old is not None and old.kind is CredentialKind.REST_TOKEN
    assert "found only in local files" in old.notes
    assert inv.complete
