"""The inventory a world holds: what ``keyroll.inventory.take_inventory`` would report (values attached)."""

from __future__ import annotations

from collections.abc import Sequence

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
)
from keyroll.core.secret import Secret, fingerprint_of
from tests.fakes.world import FakeWorld

_KEY_KINDS = [
    ("READ_ONLY_TOKEN", CredentialKind.READONLY_REST_TOKEN),
    ("REST_API_TOKEN", CredentialKind.REST_TOKEN),
    ("REDIS_REST_TOKEN", CredentialKind.REST_TOKEN),
]


def fake_inventory(
    world: FakeWorld,
    *,
    generated_at: str = "2026-01-01T00:00:00Z",
    files: Sequence[tuple[str, int, str]] = (),
) -> Inventory:
    """What ``take_inventory`` would report for ``world`` (values attached).

    :param files: ``(path, line, value)`` of local file copies to include.
    """
    creds: dict[str, Credential] = {}
    locs: list[Location] = []

    def cred(
        value: str,
        product: Product,
        kind: CredentialKind,
        resource: str = "",
        name: str = "",
        management: Management = Management.NATIVE,
        endpoint: str = "",
        acl_user: str = "",
        related: tuple[str, ...] = (),
    ) -> Credential:
        fp = fingerprint_of(value)
        c = Credential(
            fp,
            product,
            kind,
            resource_id=resource,
            resource_name=name,
            management=management,
            endpoint=endpoint,
            acl_user=acl_user,
            related=tuple(fingerprint_of(r) for r in related),
            value=Secret(value),
        )
        creds.setdefault(fp, c)
        return creds[fp]

    value_kind: dict[str, Credential] = {}
    for db in world.dbs.values():
        rel = (db.rest_token, db.ro_token, db.password)
        for v, k in (
            (db.rest_token, CredentialKind.REST_TOKEN),
            (db.ro_token, CredentialKind.READONLY_REST_TOKEN),
            (db.password, CredentialKind.PASSWORD),
        ):
            value_kind[v] = cred(
                v,
                Product.REDIS,
                k,
                db.id,
                db.name,
                db.management,
                db.url,
                "default",
                tuple(r for r in rel if r != v),
            )
        for u in db.users.values():
            if u.name in ("default", "default_ro"):
                continue
            for tok, (user, pw) in db.tokens.items():
                if user == u.name:
                    value_kind[tok] = cred(
                        tok,
                        Product.REDIS,
                        CredentialKind.ACL_REST_TOKEN,
                        db.id,
                        db.name,
                        db.management,
                        db.url,
                        u.name,
                        (pw,),
                    )
                    value_kind[pw] = cred(
                        pw,
                        Product.REDIS,
                        CredentialKind.ACL_PASSWORD,
                        db.id,
                        db.name,
                        db.management,
                        db.url,
                        u.name,
                        (tok,),
                    )
    if world.qstash_state:
        q = world.qstash_state
        value_kind[q["token"]] = cred(q["token"], Product.QSTASH, CredentialKind.QSTASH_TOKEN, q["user_id"])
        value_kind[q["current"]] = cred(
            q["current"],
            Product.QSTASH,
            CredentialKind.SIGNING_KEY_CURRENT,
            q["user_id"],
            related=(q["next"],),
        )
        value_kind[q["next"]] = cred(
            q["next"], Product.QSTASH, CredentialKind.SIGNING_KEY_NEXT, q["user_id"], related=(q["current"],)
        )
    for i in world.indexes.values():
        product = Product.VECTOR if i.product == "vector" else Product.SEARCH
        value_kind[i.token] = cred(
            i.token, product, CredentialKind.INDEX_TOKEN, i.id, i.name, endpoint=i.url, related=(i.ro_token,)
        )
        value_kind[i.ro_token] = cred(
            i.ro_token,
            product,
            CredentialKind.INDEX_READONLY_TOKEN,
            i.id,
            i.name,
            endpoint=i.url,
            related=(i.token,),
        )

    def match(value: str) -> tuple[Credential, Form] | None:
        if value in value_kind:
            return value_kind[value], Form.PLAIN
        for v, c in value_kind.items():
            if len(v) >= 12 and v in value:
                return c, Form.URL
        return None

    for p in world.projects.values():
        for e in p.env.values():
            m = match(e.value)
            if m is None:
                continue
            c, form = m
            conf = Confidence.EXACT if e.type != "sensitive" else Confidence.PROBABLE
            locs.append(
                Location(
                    LocationKind.VERCEL_ENV,
                    c.fingerprint,
                    form,
                    conf,
                    project_id=p.id,
                    project_name=p.name,
                    env_id=e.id,
                    key=e.key,
                    targets=tuple(e.target),
                    git_branch=e.git_branch or "",
                    custom_environment_ids=tuple(e.custom_environment_ids),
                    env_type=e.type,
                    configuration_id=e.configuration_id or "",
                )
            )
            if c.management is Management.VERCEL_INTEGRATION and e.configuration_id is None:
                pass
    for sid, s in world.shared.items():
        m = match(s["value"])
        if m:
            locs.append(
                Location(
                    LocationKind.VERCEL_SHARED_ENV,
                    m[0].fingerprint,
                    m[1],
                    env_id=sid,
                    key=s["key"],
                    targets=tuple(s["target"]),
                    env_type=s["type"],
                    linked_project_ids=tuple(s["projects"]),
                )
            )
    for (scope, name), value in world.github.items():
        m = match(value)
        if m:
            repo, _, env = scope.partition(" env:")
            locs.append(
                Location(
                    LocationKind.GITHUB_SECRET,
                    m[0].fingerprint,
                    Form.UNKNOWN,
                    Confidence.PROBABLE,
                    repo=repo,
                    secret_scope=f"env:{env}" if env else "repo",
                    secret_name=name,
                )
            )
    for path, line, value in files:
        m = match(value)
        if m:
            locs.append(
                Location(LocationKind.FILE, m[0].fingerprint, Form.PLAIN, path=path, line=line, column=1)
            )
    deps = []
    serving = {d.id for d in world.serving()}
    for d in world.deployments.values():
        if d.state != "READY":
            continue
        deps.append(
            DeploymentRef(
                d.project_id,
                d.id,
                url=f"{d.id}.fake.vercel.app",
                target=d.custom_environment_id or (d.target or "preview"),
                git_branch=d.git_branch,
                custom_environment_id=d.custom_environment_id,
                created_at=d.created_at,
                state="READY",
                serving=d.id in serving,
            )
        )
    used = {loc.fingerprint for loc in locs}
    groups_used = used | {r for c in creds.values() if c.fingerprint in used for r in c.related}
    credentials = tuple(
        sorted((c for c in creds.values() if c.fingerprint in groups_used), key=lambda c: c.fingerprint)
    )
    return Inventory(
        credentials, tuple(locs), tuple(sorted(deps, key=lambda d: d.deployment_id)), (), generated_at
    )
