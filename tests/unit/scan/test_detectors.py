"""Detectors: what each must catch (in every form a copy takes) and what it must not.

Tokens are generated at run time in the real layouts (keyroll.scan.synthetic), so this file
holds no literal credential and the repository's own scan stays clean.
"""

from __future__ import annotations

import base64
import json

import pytest

from keyroll.core.model import CredentialKind, Form, Product
from keyroll.scan import synthetic
from keyroll.scan.detectors.upstash_format import (
    decode_b64,
    index_header_anchors,
    parse_index_token,
    parse_redis_token,
    redis_v2_anchors,
)
from keyroll.scan.detectors.vercel import checksum
from keyroll.scan.engine import scan_text
from keyroll.scan.findings import Certainty, preview_of
from keyroll.scan.textscan import TextScanner

RW = synthetic.redis_token().reveal()
RO = synthetic.redis_token(readonly=True).reveal()
RW1 = synthetic.redis_token(layout="v1", pad=True).reveal()
RO1 = synthetic.redis_token(readonly=True, layout="v1").reveal()
VEC = synthetic.index_token(name="keen-otter-41234-us1").reveal()
VEC_RO = synthetic.index_token(name="keen-otter-41234-us1", readonly=True).reveal()
VEC1 = synthetic.index_token(layout="v1").reveal()
QT = synthetic.qstash_token().reveal()
SIG = synthetic.qstash_signing_key().reveal()
SIG2 = synthetic.qstash_signing_key().reveal()
VCP = synthetic.vercel_token("vcp").reveal()
VCK = synthetic.vercel_token("vck").reveal()
LEGACY = synthetic.vercel_legacy_token().reveal()


OPAQUE = synthetic.opaque_token().reveal()


def _tamper(token: str) -> bytes:
    raw = decode_b64(token) or b""
    return raw[:5] + bytes([raw[5] + 1]) + raw[6:]


def rules(text: str, path: str = "x.txt") -> list[tuple[str, str]]:
    return [(f.rule_id, f.kind.value) for f in scan_text(text, path)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"UPSTASH_REDIS_REST_TOKEN={RW}\n", ("upstash-redis-rest-token", "rest_token")),
        (f'KV_REST_API_READ_ONLY_TOKEN="{RO}"\n', ("upstash-redis-readonly-token", "readonly_rest_token")),
        (f"token: '{RW1}'\n", ("upstash-redis-rest-token", "rest_token")),
        (f"x = {RO1}\n", ("upstash-redis-readonly-token", "readonly_rest_token")),
        (f'{{"t": "{RW}"}}', ("upstash-redis-rest-token", "rest_token")),  # no key name needed
        (f"curl https://a.upstash.io/get/k?_token={RW}", ("upstash-redis-rest-token", "rest_token")),
        (f"UPSTASH_VECTOR_REST_TOKEN={VEC}\n", ("upstash-vector-token", "index_token")),
        (f"UPSTASH_VECTOR_REST_READONLY_TOKEN={VEC_RO}\n", ("upstash-vector-token", "index_readonly_token")),
        (
            f"url=https://keen-otter-41234-us1-search.upstash.io\ntok={VEC}\n",
            ("upstash-search-token", "index_token"),
        ),
        (f"t={VEC}\n", ("upstash-index-token", "index_token")),
        (f"UPSTASH_VECTOR_REST_TOKEN='{VEC1}'", ("upstash-vector-token", "index_token")),
        (f"QSTASH_TOKEN={QT}\n", ("upstash-qstash-token", "qstash_token")),
        (f"QSTASH_NEXT_SIGNING_KEY={SIG}\n", ("upstash-qstash-signing-key", "signing_key_next")),
        (
            f'new Receiver({{ currentSigningKey: "{SIG}" }})',
            ("upstash-qstash-signing-key", "signing_key_current"),
        ),
        (f"VERCEL_TOKEN={VCP}\n", ("vercel-access-token", "access_token")),
        (f"key={VCK}", ("vercel-access-token", "access_token")),
        (f"VERCEL_TOKEN={LEGACY}\n", ("vercel-legacy-token", "access_token")),
        (f"vercel deploy --prod --token {LEGACY}\n", ("vercel-legacy-token", "access_token")),
        (f"UPSTASH_REDIS_REST_TOKEN={OPAQUE}\n", ("upstash-redis-rest-token", "rest_token")),
        (f"QSTASH_TOKEN: {OPAQUE}\n", ("upstash-qstash-token", "qstash_token")),
        (f"UPSTASH_SEARCH_REST_TOKEN={OPAQUE}\n", ("upstash-search-token", "index_token")),
        (f"UPSTASH_REDIS_PASSWORD={OPAQUE}\n", ("upstash-redis-password", "password")),
        (
            f'import {{ Redis }} from "@upstash/redis"\nnew Redis({{ url: "u", token: "{OPAQUE}" }})',
            ("upstash-redis-rest-token", "rest_token"),
        ),
        (
            f'# upstash\ncurl https://eu1-x.upstash.io/get/a -H "Authorization: Bearer {OPAQUE}"',
            ("upstash-redis-rest-token", "rest_token"),
        ),
        (
            f"REDIS_URL=rediss://default:{OPAQUE}@keen-otter-1234.upstash.io:6379",
            ("upstash-redis-url", "url_with_password"),
        ),
        (
            f"KV_URL=redis://default:{OPAQUE}@x.kv.vercel-storage.com:1234",
            ("upstash-redis-url", "url_with_password"),
        ),
        (f"redis://u:{OPAQUE}@db.internal:6379/0", ("redis-url-password", "url_with_password")),
        ('SECRET_KEY = "k2#9x!fj3Lm0qPz8vRt5wYb1nC4sDe7h"', ("generic-secret", "unknown")),  # keyroll: allow
    ],
)
def test_catches(text: str, expected: tuple[str, str]) -> None:
    assert rules(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "UPSTASH_REDIS_REST_TOKEN=your-token-here",
        'UPSTASH_REDIS_REST_TOKEN="AX..."',
        "UPSTASH_REDIS_REST_TOKEN=${{ secrets.UPSTASH_REDIS_REST_TOKEN }}",
        "UPSTASH_REDIS_REST_TOKEN=$UPSTASH_TOKEN",
        "token: process.env.UPSTASH_REDIS_REST_TOKEN",
        "UPSTASH_REDIS_REST_URL=https://keen-otter-1234.upstash.io",
        "QSTASH_TOKEN=<your token>",
        "QSTASH_CURRENT_SIGNING_KEY=sig_xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "rediss://default:TOKEN@keen-otter-1234.upstash.io:6379",
        "redis://[[username]:[password]]@localhost:6379/0",
        "redis://user:pass@host:6379",
        "sig_handler = signal.SIG_IGN; sig_alg_name = x",
        "sig_handleIncomingWebhookRequest = 1",  # a name in base58 letters: a capital per word
        "PASSWD_MIN = argon2id.PASSWD_MIN",
        "token = self.get_token()",
        "password = os.environ['DB_PASSWORD']",
        "vcp_pattern = 3",
        RW[:-6],  # truncated: structure no longer checks out
        base64.urlsafe_b64encode(_tamper(RW)).decode().rstrip("="),  # field length no longer adds up
        VCP[:-1] + ("A" if VCP[-1] != "A" else "B"),  # checksum mismatch
        base64.b64encode(b"\x01\x02\x03" + bytes(60)).decode(),  # decodes, wrong layout
        base64.b64encode(
            json.dumps({"UserID": "defaultUser", "Password": "defaultPassword"}).encode()
        ).decode(),
        "tokenizer_config = 'bert-base-uncased-vocab-30522'",
    ],
)
def test_ignores(text: str) -> None:
    assert scan_text(text, "x.txt") == []


def test_redis_layouts_decode() -> None:
    for token, readonly, layout in (
        (RW, False, "v2"),
        (RO, True, "v2"),
        (RW1, False, "v1"),
        (RO1, True, "v1"),
    ):
        raw = decode_b64(token)
        assert raw is not None
        info = parse_redis_token(raw)
        assert info is not None and info.readonly is readonly and info.layout == layout
    port_token = synthetic.redis_token(port=35682).reveal()
    info = parse_redis_token(decode_b64(port_token) or b"")
    assert info is not None and info.port == 35682


def test_index_layout_decodes_name_and_role() -> None:
    info = parse_index_token(decode_b64(VEC_RO) or b"")
    assert info is not None and info.readonly and info.name == "keen-otter-41234-us1"
    assert parse_redis_token(decode_b64(VEC) or b"") is None
    assert parse_index_token(decode_b64(RW) or b"") is None


def test_anchors_cover_generated_tokens() -> None:
    v2 = set(redis_v2_anchors())
    for _ in range(50):
        assert synthetic.redis_token().reveal()[4:10] in v2
        assert synthetic.redis_token(readonly=True).reveal()[4:10] in v2
        assert synthetic.index_token().reveal()[:5] in set(index_header_anchors())


# Example tokens published in Kingfisher's Vercel rules (github.com/mongodb/kingfisher,
# crates/kingfisher-rules/data/rules/vercel.yml), split into prefix, 50-character body and the
# 6-character checksum so that no whole token sits in this repository.
PUBLISHED_VERCEL_EXAMPLES = (
    ("vcp_", "35UYJwYZDigYATKhxJUAhPqRhit2Xe3dtiG60LsUTHeklEXDQ9", "4Jafpu"),
    ("vcp_", "4mcjwVDwqtVCVGWCcxRjdzGpkGZ3NkwXZv8ktcoQ0EG0dnjpMP", "1Rzi71"),
    ("vca_", "BQuu9ChDu3n6Pfh6YQnCshpoYkWDSFKogLqmBtQ0tC8NAA5rXt", "340sjz"),
    ("vck_", "2YkmQj1uHqCVNoUx5a9uvRTe81gmAcln5hoRMPWFBU4tulufUf", "0OzP2K"),
)


@pytest.mark.parametrize(("prefix", "body", "crc"), PUBLISHED_VERCEL_EXAMPLES)
def test_vercel_checksum_matches_published_examples(prefix: str, body: str, crc: str) -> None:
    # Base62 (0-9A-Za-z) of CRC-32 of the 50-character body, padded to 6
    assert len(body) == 50
    assert checksum(body) == crc
    token = prefix + body + crc
    found = scan_text(f"token: {token}\n", "x.txt")
    assert [f.rule_id for f in found] == ["vercel-access-token"]
    # one changed character in the body breaks the checksum: no high-confidence finding
    broken = prefix + ("X" if body[0] != "X" else "Y") + body[1:] + crc
    assert not [f for f in scan_text(f"token: {broken}\n", "x.txt") if f.rule_id == "vercel-access-token"]


def test_vercel_checksum_pads_to_six() -> None:
    assert checksum("") == "000000"
    assert all(c.isalnum() for c in checksum("x" * 50)) and len(checksum("x" * 50)) == 6


def test_token_in_every_form() -> None:
    forms = {
        f"UPSTASH_REDIS_REST_TOKEN={RW}\n": Form.PLAIN,
        f'export UPSTASH_REDIS_REST_TOKEN="{RW}"\n': Form.QUOTED,
        f"redis_url: rediss://default:{RW}@keen-otter-1.upstash.io:6379\n": Form.URL,
        f"  upstash_redis_rest_token: {RW}\n": Form.PLAIN,
    }
    for text, form in forms.items():
        (f,) = scan_text(text, "f")
        assert f.rule_id == "upstash-redis-rest-token" and f.form is form, text


def test_finding_fields_and_secret_hygiene() -> None:
    text = f"line one\n  UPSTASH_REDIS_REST_TOKEN = '{RW}'\n"
    (f,) = scan_text(text, "app/.env")
    assert (f.path, f.line, f.column) == ("app/.env", 2, text.split("\n")[1].index(RW) + 1)
    assert f.end_column - f.column == len(RW)
    assert f.key == "UPSTASH_REDIS_REST_TOKEN" and f.confidence is Certainty.HIGH
    assert f.product is Product.REDIS and f.kind is CredentialKind.REST_TOKEN
    assert f.secret is not None and f.secret.reveal() == RW and f.fingerprint == f.secret.fingerprint
    assert f.preview == f"{RW[:4]}…{RW[-4:]}" and RW not in repr(f)


def test_preview_never_whole_value() -> None:
    for value in ("short", "twelve-chars", "a" * 19, "b" * 64):
        p = preview_of(value)
        assert value not in p and len(p) <= 9


def test_pragma_same_line_and_next_line() -> None:
    s = TextScanner()
    text = f"A={RW}  # keyroll: allow\n# keyroll: allow-next-line\nB={RO}\nC={QT}\n"
    res = s.scan(text, "f")
    assert [f.rule_id for f in res.findings] == ["upstash-qstash-token"]
    assert res.allowed == 2


def test_min_confidence_drops_low() -> None:
    s = TextScanner(min_confidence=Certainty.MEDIUM)
    generic = 'SECRET_KEY = "k2#9x!fj3Lm0qPz8vRt5wYb1nC4sDe7h"'  # keyroll: allow
    res = s.scan(f"{generic}\nQSTASH_TOKEN={QT}\n", "f")
    assert [f.rule_id for f in res.findings] == ["upstash-qstash-token"] and res.below_threshold == 1


def test_overlap_keeps_most_specific_and_inherits_key() -> None:
    (f,) = scan_text(f"QSTASH_CURRENT_SIGNING_KEY={SIG}\n", "f")
    assert f.confidence is Certainty.HIGH and f.key == "QSTASH_CURRENT_SIGNING_KEY"
    (u,) = scan_text(f"REDIS_URL=rediss://default:{RW}@keen-otter-1.upstash.io:6379\n", "f")
    assert u.rule_id == "upstash-redis-rest-token" and u.form is Form.URL


def test_url_encoded_password_is_decoded_for_the_fingerprint() -> None:
    from keyroll.core.secret import fingerprint_of

    pw = "p@ss/w0rd+Zk9xTm12bHpQd2Vy"
    import urllib.parse

    (f,) = scan_text(f"rediss://default:{urllib.parse.quote(pw, safe='')}@a-b-1.upstash.io:6379", "f")
    assert f.form is Form.URL_ENCODED and f.fingerprint == fingerprint_of(pw)


def test_known_values_in_encoded_forms() -> None:
    from keyroll.core.secret import Secret

    secret = Secret("p@ss-word_not-a-token-format!")
    s = TextScanner(known=[secret])
    text = f"x={base64.b64encode(secret.reveal().encode()).decode()}\n"
    (f,) = s.scan(text, "f").findings
    assert (
        f.rule_id == "known-value"
        and f.form is Form.BASE64
        and f.known
        and f.fingerprint == secret.fingerprint
    )


def test_inventory_fingerprints_mark_and_find() -> None:
    from keyroll.core.secret import fingerprint_of

    s = TextScanner(fingerprints=[fingerprint_of(RW), fingerprint_of(OPAQUE)])
    res = s.scan(f"A={RW}\nsomewhere {OPAQUE} in prose\nB={RO}\n", "f")
    by_rule = {f.rule_id: f for f in res.findings}
    assert by_rule["upstash-redis-rest-token"].known
    assert by_rule["known-value"].fingerprint == fingerprint_of(OPAQUE)
    assert not by_rule["upstash-redis-readonly-token"].known


def test_notebook_cells_and_json_escapes() -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# setup"]},
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": [f"QSTASH_TOKEN={QT}\n"]}],
                "source": ["print(os.environ)"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (f,) = scan_text(json.dumps(nb, indent=1, sort_keys=True), "analysis.ipynb")
    assert f.rule_id == "upstash-qstash-token" and f.cell == 1


def test_shell_history_forms() -> None:
    history = (
        f": 1700000000:0;export UPSTASH_REDIS_REST_TOKEN={RW}\n"
        f"- cmd: vercel env add KV_REST_API_TOKEN production <<< {RO}\n"
        f"redis-cli -u rediss://default:{OPAQUE}@keen-otter-1.upstash.io:6379\n"
    )
    found = [f.rule_id for f in scan_text(history, ".zsh_history")]
    assert found == ["upstash-redis-rest-token", "upstash-redis-readonly-token", "upstash-redis-url"]


def test_non_ascii_text_keeps_columns() -> None:
    text = f"# café ünïcode 日本\nQSTASH_TOKEN={QT}\n"
    (f,) = scan_text(text, "f")
    assert (f.line, f.column) == (2, len("QSTASH_TOKEN=") + 1)
    text2 = f"日本語 QSTASH_TOKEN={QT}"
    (g,) = scan_text(text2, "f")
    assert g.column == text2.index(QT) + 1


def test_aho_corasick_fallback_finds_the_same() -> None:
    text = f"é UPSTASH_REDIS_REST_TOKEN={RW}\nVERCEL_TOKEN={VCP}\nQSTASH_NEXT_SIGNING_KEY={SIG2}\n"
    fast = TextScanner().scan(text, "f").findings
    slow = TextScanner(engine="aho-corasick").scan(text, "f").findings
    assert [(f.rule_id, f.column) for f in fast] == [(f.rule_id, f.column) for f in slow]
    assert len(fast) == 3


def test_a_signing_key_without_a_digit_is_still_a_key() -> None:
    """One random 28-character base58 key in about 110 has no digit; it was missed when alone."""
    key = "sig_" + "ScnsnAsEzRFdnquHQYnHneNNvFkr"  # random letters, no digit
    assert rules(f"{key}\n") == [("upstash-qstash-signing-key", "signing_key_current")]
