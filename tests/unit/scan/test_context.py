"""Unknown-format Upstash tokens (ACL-user tokens, passwords, future layouts) found by their context.

An opaque random token is only an Upstash credential because of where it is: the variable it is
assigned to, the SDK call it is passed to, the Upstash host it is sent to. These are the common
shapes; each must be caught (medium confidence, except Redis URLs on an Upstash host, which are
high), and look-alikes without Upstash context must not be.
"""

from __future__ import annotations

import secrets

import pytest

from keyroll.core.secret import fingerprint_of
from keyroll.scan import synthetic
from keyroll.scan.engine import scan_text
from keyroll.scan.findings import Certainty

TOK = synthetic.opaque_token().reveal()
HOST = "keen-otter-41234.upstash.io"

CAUGHT = [
    # variables
    (f"UPSTASH_REDIS_REST_TOKEN={TOK}", "upstash-redis-rest-token"),
    (f'KV_REST_API_TOKEN="{TOK}"', "upstash-redis-rest-token"),
    (f"export KV_REST_API_READ_ONLY_TOKEN='{TOK}'", "upstash-redis-readonly-token"),
    (f"UPSTASH_REDIS_TOKEN: {TOK}", "upstash-redis-rest-token"),
    (f"  upstash-redis-rest-token: {TOK}", "upstash-redis-rest-token"),  # Kubernetes-style key
    (f'const cfg = {{ upstashRedisRestToken: "{TOK}" }}', "upstash-redis-rest-token"),  # camelCase
    (f'process.env.UPSTASH_REDIS_REST_TOKEN = "{TOK}"', "upstash-redis-rest-token"),
    (f"UPSTASH_VECTOR_REST_READONLY_TOKEN={TOK}", "upstash-vector-token"),
    (f"QSTASH_TOKEN={TOK}", "upstash-qstash-token"),
    (f"UPSTASH_REDIS_PASSWORD={TOK}", "upstash-redis-password"),
    # SDK calls
    (
        f'import {{ Redis }} from "@upstash/redis"\nnew Redis({{ url, token: "{TOK}" }})',
        "upstash-redis-rest-token",
    ),
    (
        f'import {{ Redis }} from "@upstash/redis"\nconst r = new Redis({{ url: getUrl(), token: "{TOK}" }})',
        "upstash-redis-rest-token",
    ),
    (
        f'from upstash_redis import Redis\nr = Redis(url=os.getenv("UPSTASH_REDIS_REST_URL"), token="{TOK}")',
        "upstash-redis-rest-token",
    ),
    (
        f'import {{ createClient }} from "@vercel/kv"\nconst kv = createClient({{\n  url: process.env.KV_URL,\n  token: "{TOK}",\n}})',
        "upstash-redis-rest-token",
    ),
    (f'r = redis.Redis(host="{HOST}", port=6379, password="{TOK}", ssl=True)', "upstash-redis-password"),
    (f'new Redis({{ host: "{HOST}", port: 6379, password: "{TOK}", tls: {{}} }})', "upstash-redis-password"),
    (
        f'from upstash_vector import Index\nIndex(url="https://x-vector.upstash.io", token="{TOK}")',
        "upstash-vector-token",
    ),
    # URLs
    (f"REDIS_URL=redis://default:{TOK}@{HOST}:6379", "upstash-redis-url"),
    (f"KV_URL=rediss://default:{TOK}@{HOST}:6379", "upstash-redis-url"),
    (f"rediss://:{TOK}@eu1-{HOST}", "upstash-redis-url"),
    (f"redis-cli -u rediss://default:{TOK}@{HOST}:6379", "upstash-redis-url"),
    # requests and command lines
    (f"curl https://{HOST}/get/a -H 'Authorization: Bearer {TOK}'", "upstash-redis-rest-token"),
    (f"GET https://{HOST}/get/session\nAuthorization: Bearer {TOK}\n", "upstash-redis-rest-token"),
    (f"curl https://{HOST}/get/a?_token={TOK}", "upstash-redis-rest-token"),
    (f"redis-cli --tls -a {TOK} -h {HOST} -p 6379", "upstash-redis-password"),
    (f"curl https://api.upstash.com/v2/redis/databases -u me@example.org:{TOK}", "upstash-developer-api-key"),
    (
        f'curl -X POST https://api.upstash.com/v2/redis/database \\\n  -u "me@example.org:{TOK}" \\\n  -d "{{}}"',
        "upstash-developer-api-key",
    ),
    (
        f"requests.get('https://api.upstash.com/v2/redis/databases', auth=('me@example.org', '{TOK}'))",
        "upstash-developer-api-key",
    ),
    (
        f'req, _ := http.NewRequest("GET", "https://api.upstash.com/v2/redis/databases", nil)\n'
        f'req.SetBasicAuth("me@example.org", "{TOK}")',
        "upstash-developer-api-key",
    ),
]


@pytest.mark.parametrize(("text", "rule"), CAUGHT, ids=[r + f"-{i}" for i, (_, r) in enumerate(CAUGHT)])
def test_unknown_format_token_is_caught_by_its_context(text: str, rule: str) -> None:
    (f,) = scan_text(text + "\n", "x.txt")
    assert f.rule_id == rule and f.fingerprint == fingerprint_of(TOK)
    expected = Certainty.HIGH if rule == "upstash-redis-url" else Certainty.MEDIUM
    assert f.confidence is expected


IGNORED = [
    # look-alikes with Upstash mentioned elsewhere in the text, but not as the token's context
    f"# upstash\ngit push -u origin main\nls -a {TOK}",
    f"# upstash docs\ncurl -u me:{TOK} https://api.github.com/user",
    f"# upstash docs\nrequests.get('https://api.github.com/user', auth=('me', '{TOK}'))",
    "curl https://api.upstash.com/v2/redis/database -u 'EMAIL:API_KEY'",  # the docs' own example
    f"# upstash\nredis-cli -a {TOK} -h localhost -p 6379",
    f'# uses upstash for caching\nr = redis.Redis(host="localhost", password="{TOK}")',
    f'const upstashUrl = "https://{HOST}"',
    f"GET https://{HOST}/get/a\n\nGET https://api.example.org/me\nAuthorization: Bearer {TOK}",
    f"UPSTASH_REDIS_REST_URL=https://{HOST}",
    "UPSTASH_REDIS_REST_TOKEN=${{ secrets.UPSTASH_REDIS_REST_TOKEN }}",
    'import { Redis } from "@upstash/redis"\nnew Redis({ url, token: process.env.UPSTASH_TOKEN })',
    f'createClient({{ url: "redis://localhost:6379", token: "{TOK}" }})',  # node-redis, no Upstash
]


@pytest.mark.parametrize("text", IGNORED)
def test_no_upstash_finding_without_upstash_context(text: str) -> None:
    upstash = [f.rule_id for f in scan_text(text + "\n", "x.txt") if f.rule_id.startswith("upstash-")]
    assert upstash == []


def test_no_detector_fires_on_a_bare_high_entropy_string() -> None:
    assert scan_text(f"{TOK}\n{secrets.token_hex(32)}\n", "notes.txt") == []
