"""The base64 layer: credentials wrapped in base64 are found, reported at the blob, and noise stays silent.

Tokens are generated at run time (keyroll.scan.synthetic); nothing here is a live credential.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyroll.cli.main import run
from keyroll.core.model import CredentialKind, Form
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.scan import synthetic
from keyroll.scan.base64_layer import decode_printable, encoded_anchors
from keyroll.scan.detectors import default_detectors
from keyroll.scan.detectors.upstash_format import decode_b64
from keyroll.scan.engine import scan_text
from keyroll.scan.findings import Certainty
from keyroll.scan.reader import scan_stream
from keyroll.scan.textscan import TextScanner

RW = synthetic.redis_token().reveal()
RO1 = synthetic.redis_token(readonly=True, layout="v1").reveal()
QT = synthetic.qstash_token().reveal()
VEC = synthetic.index_token(name="keen-otter-41234-us1").reveal()
SIG = synthetic.qstash_signing_key().reveal()
HOST = "keen-otter-41234.upstash.io"


OPAQUE = synthetic.opaque_token().reveal()


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def where(text: str, blob: str) -> tuple[int, int]:
    """1-based line and column of ``blob`` in ``text``."""
    i = text.index(blob)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def secret_manifest(entries: dict[str, str]) -> str:
    data = "\n".join(f"  {k}: {b64(v)}" for k, v in entries.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-env\ntype: Opaque\ndata:\n{data}\n"


# -- what it finds ----------------------------------------------------------------------------


def test_kubernetes_secret_yaml_values_are_decoded_and_reported_at_the_blob() -> None:
    text = secret_manifest(
        {
            "LOG_LEVEL": "info",
            "UPSTASH_REDIS_REST_TOKEN": RW,
            "QSTASH_TOKEN": QT,
            "UPSTASH_REDIS_REST_URL": f"https://{HOST}",
            "upstash-acl-token": OPAQUE,
        }
    )
    found = {f.key: f for f in scan_text(text, "k8s/secret.yaml")}
    assert set(found) == {"UPSTASH_REDIS_REST_TOKEN", "QSTASH_TOKEN", "upstash-acl-token"}
    for key, value, rule, confidence in (
        ("UPSTASH_REDIS_REST_TOKEN", RW, "upstash-redis-rest-token", Certainty.HIGH),
        ("QSTASH_TOKEN", QT, "upstash-qstash-token", Certainty.HIGH),
        ("upstash-acl-token", OPAQUE, "upstash-redis-rest-token", Certainty.MEDIUM),
    ):
        f = found[key]
        assert (f.rule_id, f.confidence, f.form) == (rule, confidence, Form.BASE64)
        assert (f.line, f.column) == where(text, b64(value))
        assert f.end_column - f.column == len(b64(value))
        # the fingerprint is the credential's, so it matches the same token found anywhere else
        assert f.fingerprint == fingerprint_of(value) and f.secret is not None and f.secret.reveal() == value
        assert "base64" in f.reason


def test_kubernetes_secret_json_and_index_token() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "vec"},
        "data": {"UPSTASH_VECTOR_REST_TOKEN": b64(VEC), "region": b64("us1")},
    }
    text = json.dumps(doc, indent=2)
    (f,) = scan_text(text, "secret.json")
    assert f.rule_id == "upstash-vector-token" and f.kind is CredentialKind.INDEX_TOKEN
    assert f.form is Form.BASE64 and f.fingerprint == fingerprint_of(VEC)
    assert (f.line, f.column) == where(text, b64(VEC))


def test_basic_auth_header_with_a_redis_token() -> None:
    header = b64(f"default:{RO1}")
    text = f'curl -H "Authorization: Basic {header}" https://{HOST}/get/session\n'
    (f,) = scan_text(text, "notes.sh")
    assert f.rule_id == "upstash-redis-readonly-token" and f.confidence is Certainty.HIGH
    assert f.form is Form.BASE64 and f.fingerprint == fingerprint_of(RO1)
    assert (f.line, f.column) == where(text, header)


def test_basic_auth_to_the_developer_api_in_an_http_file() -> None:
    header = b64(f"ops@example.org:{OPAQUE}")
    text = (
        f"### list databases\nGET https://api.upstash.com/v2/redis/databases\nAuthorization: Basic {header}\n"
    )
    (f,) = scan_text(text, "upstash.http")
    assert f.rule_id == "upstash-developer-api-key" and f.confidence is Certainty.MEDIUM
    assert f.fingerprint == fingerprint_of(OPAQUE) and f.line == 3 and f.form is Form.BASE64


def test_base64_env_file_in_a_ci_variable_reports_each_credential() -> None:
    dotenv = f"UPSTASH_REDIS_REST_URL=https://{HOST}\nUPSTASH_REDIS_REST_TOKEN={OPAQUE}\nQSTASH_NEXT_SIGNING_KEY={SIG}\n"
    blob = b64(dotenv)
    text = f'variables:\n  ENV_FILE_B64: "{blob}"\ndeploy:\n  script: make\n'
    found = scan_text(text, ".gitlab-ci.yml")
    by_fp = {f.fingerprint: f for f in found}
    assert set(by_fp) == {fingerprint_of(OPAQUE), fingerprint_of(SIG)}
    assert by_fp[fingerprint_of(SIG)].kind is CredentialKind.SIGNING_KEY_NEXT
    assert by_fp[fingerprint_of(OPAQUE)].key == "UPSTASH_REDIS_REST_TOKEN"
    assert {(f.line, f.column) for f in found} == {where(text, blob)}


def test_wrapped_base64_file_is_joined_and_reported_at_its_first_line() -> None:
    dotenv = f"# prod\nUPSTASH_REDIS_REST_URL=https://{HOST}\nUPSTASH_REDIS_REST_TOKEN={RW}\nKV_REST_API_TOKEN={OPAQUE}\n"
    lines = textwrap.wrap(b64(dotenv * 3), 76)  # `base64 .env`: 76 columns
    assert len(lines) > 3
    text = "\n".join(lines) + "\n"
    found = scan_text(text, "env.b64")
    # the same two credentials, three times over: one finding each, at line 1 column 1
    assert sorted(f.rule_id for f in found) == ["upstash-redis-rest-token"] * 2
    assert {f.fingerprint for f in found} == {fingerprint_of(RW), fingerprint_of(OPAQUE)}
    assert {(f.line, f.column, f.form) for f in found} == {(1, 1, Form.BASE64)}


def test_base64url_unpadded_blob_in_an_npmrc() -> None:
    blob = base64.urlsafe_b64encode(f"ci:{RW}".encode()).decode().rstrip("=")
    text = f"registry=https://registry.example.org/\n_auth={blob}\n"
    (f,) = scan_text(text, ".npmrc")
    assert f.rule_id == "upstash-redis-rest-token" and f.line == 2 and f.fingerprint == fingerprint_of(RW)


def test_plain_tokens_are_unchanged() -> None:
    # a QStash token is itself base64 of JSON with a Password: the token stays the finding
    (f,) = scan_text(f"QSTASH_TOKEN={QT}\n", ".env")
    assert (
        f.rule_id == "upstash-qstash-token" and f.form is Form.PLAIN and f.fingerprint == fingerprint_of(QT)
    )
    (g,) = scan_text(f"UPSTASH_REDIS_REST_TOKEN={RW}\n", ".env")
    assert g.form is Form.PLAIN and g.column == len("UPSTASH_REDIS_REST_TOKEN=") + 1


# -- the same rules as plain text -------------------------------------------------------------


def test_structure_checks_apply_to_the_decoded_token() -> None:
    raw = decode_b64(RW) or b""
    tampered = base64.urlsafe_b64encode(raw[:5] + bytes([raw[5] + 1]) + raw[6:]).decode().rstrip("=")
    assert scan_text(f"_auth={b64('ci:' + tampered)}\n", ".npmrc") == []
    # a truncated token under `token:` is what it would be in plain text: a generic secret
    plain = [f.rule_id for f in scan_text(f"token: {RW[:-6]}\n", "s.yaml")]
    wrapped = [f.rule_id for f in scan_text(secret_manifest({"token": RW[:-6]}), "s.yaml")]
    assert wrapped == plain == ["generic-secret"]


def test_placeholders_and_templates_inside_blobs_are_dropped() -> None:
    for value in ("your-token-here", "${{ secrets.UPSTASH_REDIS_REST_TOKEN }}", "AX..."):
        assert scan_text(secret_manifest({"UPSTASH_REDIS_REST_TOKEN": value}), "s.yaml") == []
        assert scan_text(f"ENV_B64={b64('UPSTASH_REDIS_REST_TOKEN=' + value)}\n", "ci.env") == []


def test_a_secret_data_value_is_an_encoding_not_a_credential() -> None:
    # before the layer, the encoded string itself was reported under the Upstash key name
    weak = "correct-horse-battery"
    text = secret_manifest({"UPSTASH_REDIS_PASSWORD": weak})
    assert scan_text(text, "s.yaml") == []


def test_pragma_on_the_blob_line_and_min_confidence() -> None:
    text = f"ENV_B64={b64('UPSTASH_REDIS_REST_TOKEN=' + OPAQUE)}  # keyroll: allow\n"
    res = TextScanner().scan(text, "f")
    assert res.findings == [] and res.allowed == 1
    res = TextScanner(min_confidence=Certainty.HIGH).scan(secret_manifest({"UPSTASH_TOKEN": OPAQUE}), "f")
    assert res.findings == [] and res.below_threshold == 1


def test_known_values_and_inventory_fingerprints_inside_blobs() -> None:
    secret = Secret(OPAQUE)
    text = secret_manifest({"UPSTASH_REDIS_REST_TOKEN": OPAQUE})
    (f,) = TextScanner(known=[secret]).scan(text, "s.yaml").findings
    assert f.known and f.fingerprint == secret.fingerprint and f.form is Form.BASE64
    # no Upstash context at all: only the inventory's fingerprint says what it is
    bare = f"Authorization: Basic {b64('app:' + OPAQUE)}\n"
    assert scan_text(bare, "f") == []
    (g,) = TextScanner(fingerprints=[secret.fingerprint]).scan(bare, "f").findings
    assert g.rule_id == "known-value" and g.fingerprint == secret.fingerprint and g.form is Form.BASE64


def test_decoding_off_restores_the_plain_scanner() -> None:
    text = secret_manifest({"UPSTASH_REDIS_REST_TOKEN": RW})
    assert [f.form for f in TextScanner(decode_base64=False).scan(text, "s").findings] in ([], [Form.PLAIN])
    assert [f.form for f in TextScanner().scan(text, "s").findings] == [Form.BASE64]


# -- noise ------------------------------------------------------------------------------------


def _noise() -> list[tuple[str, str]]:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2048)).decode()
    parts = [
        base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
        for p in ({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890", "name": "Ada", "token_type": "id"})
    ]
    jwt = ".".join([*parts, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")])
    binary_secret = "\n".join(
        f"  key{i}: {base64.b64encode(secrets.token_bytes(20 + i)).decode()}" for i in range(30)
    )
    pem = "\n".join(textwrap.wrap(base64.b64encode(secrets.token_bytes(900)).decode(), 64))
    prose = b64("Tokens and secrets: the password policy says rotate every token. " * 8)
    integrity = "\n".join(
        f'"integrity": "sha512-{base64.b64encode(secrets.token_bytes(64)).decode()}",' for _ in range(50)
    )
    return [
        (
            "random.txt",
            "\n".join(base64.b64encode(secrets.token_bytes(n)).decode() for n in range(12, 400, 7)),
        ),
        ("logo.css", f".logo {{ background: url(data:image/png;base64,{png}); }}"),
        ("auth.test.ts", f'const sample = "{jwt}";\nconst header = "Authorization: Bearer {jwt}";'),
        ("tls.yaml", f"apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n{binary_secret}\n"),
        ("cert.pem", f"-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n"),
        ("fixture.json", json.dumps({"payload": prose, "sha": secrets.token_hex(32)})),
        ("package-lock.json", integrity),
        ("basic.txt", f"Authorization: Basic {b64('admin:hunter2')}\nbasic {b64('x' * 30)}\n"),
    ]


@pytest.mark.parametrize(("name", "text"), _noise(), ids=[n for n, _ in _noise()])
def test_base64_noise_produces_no_findings(name: str, text: str) -> None:
    assert scan_text(text, name) == []


# -- pieces -----------------------------------------------------------------------------------


def test_decode_printable() -> None:
    assert decode_printable(b64("UPSTASH_REDIS_REST_TOKEN=abc\n")) == "UPSTASH_REDIS_REST_TOKEN=abc\n"
    assert (
        decode_printable(base64.urlsafe_b64encode("é ü ? > ~ token".encode()).decode().rstrip("="))
        is not None
    )
    assert decode_printable(base64.b64encode(secrets.token_bytes(300)).decode()) is None
    assert decode_printable(b64("\x00\x01binary\x02 data here")) is None
    assert decode_printable(b64("short")) is None  # under 16 encoded characters
    assert decode_printable("not base64 at all!!") is None


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.binary(max_size=7),
    suffix=st.binary(max_size=5),
    anchor=st.sampled_from(sorted({a for d in default_detectors() for a in d.anchors if len(a) >= 6})),
    urlsafe=st.booleans(),
)
def test_an_anchor_inside_a_blob_is_visible_in_encoded_form(
    prefix: bytes, suffix: bytes, anchor: str, urlsafe: bool
) -> None:
    raw = prefix + anchor.encode() + suffix
    blob = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    assert any(p in blob for p in encoded_anchors([anchor]))


def test_credentials_in_blobs_never_reach_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(secret_manifest({"UPSTASH_REDIS_REST_TOKEN": RW, "QSTASH_TOKEN": QT}))
    code = run(["scan", str(path), "--json"])
    out = capsys.readouterr().out
    assert code == 1
    doc = json.loads(out)
    assert {f["form"] for f in doc["findings"]} == {"base64"}
    assert {f["fingerprint"] for f in doc["findings"]} == {fingerprint_of(RW), fingerprint_of(QT)}
    assert RW not in out and QT not in out and b64(RW) not in out


def test_fallback_prefilter_and_chunked_streams_find_blobs_too() -> None:
    text = secret_manifest({"UPSTASH_REDIS_REST_TOKEN": RW})
    (f,) = TextScanner(engine="aho-corasick").scan(text, "s.yaml").findings
    assert f.form is Form.BASE64 and f.fingerprint == fingerprint_of(RW)
    filler = "x = 1  # filler line\n" * 12000  # ~250 KiB: several chunks of 64 KiB
    data = (filler + text).encode()
    res = scan_stream(io.BytesIO(data), "big.yaml", TextScanner(), chunk_bytes=64 * 1024)
    (g,) = res.findings
    assert (g.line, g.column) == (12000 + where(text, b64(RW))[0], where(text, b64(RW))[1])


def test_text_report_marks_the_base64_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(secret_manifest({"UPSTASH_REDIS_REST_TOKEN": OPAQUE}))
    assert run(["scan", str(path)]) == 1
    out = capsys.readouterr().out
    line, column = where(path.read_text(), b64(OPAQUE))
    assert f"secret.yaml:{line}:{column}" in out and "form=base64" in out and "medium" in out
    assert OPAQUE not in out and b64(OPAQUE) not in out


def test_minified_bundle_of_data_uris_on_one_line() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M12 4l8 8-8 8"/></svg>'
    icons = [f'i{n}:"data:image/svg+xml;base64,{b64(svg.replace("12", str(n)))}"' for n in range(400)]
    blob = b64(f"UPSTASH_REDIS_REST_TOKEN={RW}")
    icons.insert(200, f'cfg:"data:text/plain;base64,{blob}"')
    text = "var a={" + ",".join(icons) + "};\n"
    (f,) = scan_text(text, "bundle.min.js")
    assert (f.line, f.column, f.form) == (1, text.index(blob) + 1, Form.BASE64)
    assert f.fingerprint == fingerprint_of(RW)
