"""Which tool wrote a file (``vercel env pull``, Doppler, Infisical) and the command that updates a
copy in it; ``--value-file PATH`` without a fingerprint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from keyroll.cli.prompts import ANY_CREDENTIAL, FileSecretSource, parse_value_files
from keyroll.core.errors import UsageError
from keyroll.core.model import Step, StepKind
from keyroll.core.secret import Fingerprint
from keyroll.inventory.exports import detect_origin


def test_vercel_env_pull_names_the_environment(tmp_path: Path) -> None:
    text = "# Created by Vercel CLI\nA=1\n"
    prod = detect_origin(tmp_path / ".env.production.local", text)
    assert prod is not None and prod.tool == "vercel env pull"
    assert prod.command_for("A").endswith(
        f"vercel env pull {tmp_path / '.env.production.local'} --environment=production --yes"
    )
    dev = detect_origin(tmp_path / ".env.local", text)
    assert dev is not None and dev.environment == "development"
    assert detect_origin(tmp_path / ".env.local", "A=1\n") is None  # written by hand


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("doppler.env", 'DOPPLER_CONFIG="prd"\nDOPPLER_PROJECT="shop"\nA="x"\n', "env"),
        ("doppler.yaml", "DOPPLER_CONFIG: prd\nDOPPLER_PROJECT: shop\nA: x\n", "yaml"),
        ("d.json", json.dumps({"DOPPLER_CONFIG": "prd", "DOPPLER_PROJECT": "shop", "A": "x"}), "json"),
    ],
)
def test_doppler_exports(tmp_path: Path, name: str, text: str, fmt: str) -> None:
    origin = detect_origin(tmp_path / name, text)
    assert origin is not None and origin.tool == "doppler"
    cmd = origin.command_for("A")
    assert cmd.startswith("doppler secrets set A --project shop --config prd")
    assert (
        f"doppler secrets download --no-file --format {fmt} --project shop --config prd > {tmp_path / name}"
        in cmd
    )


def test_infisical_exports(tmp_path: Path) -> None:
    origin = detect_origin(tmp_path / "s.json", json.dumps([{"key": "A", "value": "x"}]))
    assert origin is not None and origin.tool == "infisical"
    assert "infisical export --env=<env> --format=json" in origin.command_for("A")
    assert detect_origin(tmp_path / "secrets.yaml", "A: x\n") is None  # no workspace link
    (tmp_path / ".infisical.json").write_text(
        json.dumps({"workspaceId": "w", "defaultEnvironment": "staging"})
    )
    origin = detect_origin(tmp_path / "secrets.yaml", "A: x\n")
    assert origin is not None and origin.environment == "staging"
    assert "infisical secrets set --env=staging" in origin.command_for("A")
    assert "--format=yaml" in origin.command_for("A")


def _step(fp: str) -> Step:
    return Step(f"{fp[7:]}/mint", StepKind.MINT, Fingerprint(fp), "mint")


def test_value_file_without_fingerprint(tmp_path: Path) -> None:
    f = tmp_path / "v"
    f.write_text("a-new-value-0123\n")
    assert parse_value_files([str(f)]) == {ANY_CREDENTIAL: f}
    assert parse_value_files([f"sha256:abcd1234={f}"]) == {"sha256:abcd1234": f}
    source = FileSecretSource(parse_value_files([str(f)]))
    value = asyncio.run(source.new_value(_step("sha256:11111111"), "x"))
    assert value.reveal() == "a-new-value-0123"
    with pytest.raises(UsageError, match="2 manual credentials"):
        asyncio.run(source.new_value(_step("sha256:22222222"), "x"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        asyncio.run(FileSecretSource({ANY_CREDENTIAL: tmp_path / "empty"}).new_value(_step("sha256:1"), "x"))
