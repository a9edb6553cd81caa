"""Digest stability, and renderers that show fingerprints, blast radius — never values."""

from __future__ import annotations

import dataclasses
import json

import pytest

from keyroll.core.errors import UsageError
from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    DeploymentRef,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
    Strategy,
    Unknown,
)
from keyroll.core.secret import Secret
from keyroll.inventory import (
    InventoryFormat,
    blast_radius,
    digest,
    inventory_from_json,
    inventory_to_json,
    render,
    render_markdown,
)
from keyroll.inventory.render import render_text
from tests.fakes.common import token

VALUE = Secret(token("AX"))
OTHER = Secret(token("An"))


def sample() -> Inventory:
    fp, ofp = VALUE.fingerprint, OTHER.fingerprint
    creds = (
        Credential(
            fingerprint=fp,
            product=Product.REDIS,
            kind=CredentialKind.REST_TOKEN,
            resource_id="db-1",
            resource_name="cache",
            management=Management.NATIVE,
            strategy=Strategy.REDIS_ACL,
            endpoint="https://eu1-cache.upstash.io",
            acl_user="default",
            related=(ofp,),
            last4=VALUE.last4,
            value=VALUE,
        ),
        Credential(
            fingerprint=ofp,
            product=Product.REDIS,
            kind=CredentialKind.READONLY_REST_TOKEN,
            resource_id="db-1",
            resource_name="cache",
            management=Management.NATIVE,
            strategy=Strategy.REDIS_ACL,
            related=(fp,),
            value=OTHER,
        ),
    )
    locations = (
        Location(
            LocationKind.VERCEL_ENV,
            fp,
            project_id="prj_1",
            project_name="web",
            env_id="e1",
            key="T",
            targets=("production", "preview"),
        ),
        Location(
            LocationKind.VERCEL_SHARED_ENV,
            fp,
            env_id="s1",
            key="T",
            targets=("production",),
            linked_project_ids=("prj_1", "prj_2"),
        ),
        Location(LocationKind.DEPLOYMENT, fp, project_id="prj_1", deployment_id="dpl_1", serving=True),
        Location(LocationKind.DEPLOYMENT, fp, project_id="prj_1", deployment_id="dpl_0", serving=False),
        Location(
            LocationKind.GITHUB_SECRET,
            fp,
            Form.UNKNOWN,
            Confidence.PROBABLE,
            reason="name T, updated 2026-04-01",
            repo="acme/web",
            secret_scope="repo",
            secret_name="T",
            updated_at="2026-04-01",
        ),
        Location(LocationKind.FILE, fp, path=".env", line=3),
        Location(
            LocationKind.GIT_COMMIT,
            fp,
            Form.BASE64,
            path="a.py",
            line=1,
            commit="abc123",
            author_date="2026-01-01",
        ),
        Location(LocationKind.UPSTASH, ofp, key="redis cache readonly_rest_token"),
    )
    deployments = (
        DeploymentRef("prj_1", "dpl_1", target="production", serving=True, created_at=2),
        DeploymentRef("prj_1", "dpl_0", target="production", serving=False, created_at=1),
    )
    return Inventory(
        credentials=creds,
        locations=locations,
        deployments=deployments,
        unknowns=(Unknown(where="vercel api SECRET [production]", reason="sensitive"),),
        generated_at="2026-04-20T10:00:00+00:00",
    )


def test_digest_is_stable_and_ignores_order_and_timestamps() -> None:
    inv = sample()
    d = digest(inv)
    shuffled = dataclasses.replace(
        inv,
        credentials=inv.credentials[::-1],
        locations=inv.locations[::-1],
        deployments=inv.deployments[::-1],
        generated_at="2030-01-01",
    )
    assert digest(shuffled) == d
    reasons = tuple(dataclasses.replace(loc, reason="other words", updated_at="x") for loc in inv.locations)
    assert digest(dataclasses.replace(inv, locations=reasons)) == d
    older = tuple(d_ for d_ in inv.deployments if d_.serving)
    assert digest(dataclasses.replace(inv, deployments=older)) == d  # older deployments do not matter
    # what a plan depends on does
    moved = (dataclasses.replace(inv.locations[0], targets=("production",)), *inv.locations[1:])
    assert digest(dataclasses.replace(inv, locations=moved)) != d
    new_serving = (*inv.deployments, DeploymentRef("prj_1", "dpl_9", target="preview", serving=True))
    assert digest(dataclasses.replace(inv, deployments=new_serving)) != d
    assert d.startswith("sha256:") and len(d) == 7 + 64


def test_json_round_trip_keeps_the_digest_and_drops_values() -> None:
    inv = sample()
    data = inventory_to_json(inv)
    text = json.dumps(data)
    assert VALUE.reveal() not in text and OTHER.reveal() not in text
    assert data["version"] == 1 and data["digest"] == digest(inv)
    assert data["complete"] is False
    assert data["summary"]["deployments_to_redeploy"] == 1
    radius = data["credentials"][0]["blast_radius"]
    assert radius["redeploy"] == ["dpl_1"] and radius["ci_secrets"] == 1 and radius["commits"] == 1
    back = inventory_from_json(json.loads(text))
    assert digest(back) == digest(inv)
    assert back.credentials[0].value is None


def test_inventory_from_json_rejects_bad_input() -> None:
    with pytest.raises(UsageError):
        inventory_from_json({"nope": 1})
    with pytest.raises(UsageError, match="newer"):
        inventory_from_json({"version": 99, "credentials": []})


def test_blast_radius() -> None:
    inv = sample()
    b = blast_radius(inv, VALUE.fingerprint)
    assert b.projects == ("prj_2", "web")
    assert b.targets == ("preview", "production")
    assert (b.env_vars, b.shared_vars, b.redeploy, b.older_deployments) == (1, 1, ("dpl_1",), 1)
    assert (b.ci_secrets, b.files, b.commits, b.unverified) == (1, 1, 1, 1)


@pytest.mark.parametrize("fmt", list(InventoryFormat))
def test_every_format_renders_without_values(fmt: InventoryFormat) -> None:
    text = render(sample(), fmt)
    assert VALUE.fingerprint in text
    assert VALUE.reveal() not in text and OTHER.reveal() not in text


def test_format_mapping_is_exhaustive() -> None:
    expected = {
        InventoryFormat.TABLE: render_text,
        InventoryFormat.MARKDOWN: render_markdown,
        InventoryFormat.MD: render_markdown,  # "md" and "markdown" both accepted
    }
    for fmt in InventoryFormat:  # every choice maps to its own renderer
        if fmt in expected:
            assert fmt.renderer is expected[fmt]
    assert json.loads(render(sample(), InventoryFormat.JSON))["version"] == 1
    assert len({f.renderer for f in InventoryFormat}) == len(InventoryFormat) - 1


def test_table_and_markdown_show_the_blast_radius() -> None:
    text = render_text(sample())
    assert "…" + VALUE.last4 in text
    assert "redeploy 1 (+1 older)" in text and "INCOMPLETE" in text
    assert "Could not be verified" in text
    md = render_markdown(sample())
    assert "| credential |" in md and "acme/web" in md and "(unknown, probable)" in md
    assert "Rotates with:" in md
