"""The detector registry: an explicit list, no discovery.

Rule ids are stable (baselines and SARIF refer to them); :data:`RULES` maps every id to its
:class:`~keyroll.scan.findings.Rule`, including ``known-value`` (exact matches of values given
with ``--known-values`` / ``--from-inventory``), which has no detector of its own.
"""

from __future__ import annotations

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate, Detector, Hit
from keyroll.scan.detectors.database_url import DatabaseUrlDetector
from keyroll.scan.detectors.generic import GenericSecretDetector
from keyroll.scan.detectors.qstash import QStashSigningKeyDetector, QStashTokenDetector
from keyroll.scan.detectors.redis_url import RedisUrlDetector
from keyroll.scan.detectors.services import SERVICE_DETECTORS
from keyroll.scan.detectors.upstash_env import UpstashEnvDetector
from keyroll.scan.detectors.upstash_index import UpstashIndexTokenDetector
from keyroll.scan.detectors.upstash_redis import UpstashRedisTokenDetector
from keyroll.scan.detectors.upstash_sdk import UpstashUsageDetector
from keyroll.scan.detectors.vercel import VercelLegacyTokenDetector, VercelTokenDetector
from keyroll.scan.findings import Certainty, Rule

__all__ = [
    "KNOWN_VALUE",
    "RULES",
    "AnchoredDetector",
    "Candidate",
    "Detector",
    "Hit",
    "default_detectors",
]

KNOWN_VALUE = Rule(
    id="known-value",
    name="Known credential value",
    description="An exact copy (plain, URL-encoded or base64) of a value given with --known-values "
    "or of a credential in the --from-inventory inventory.",
    product=Product.OTHER,
    kind=CredentialKind.UNKNOWN,
    confidence=Certainty.HIGH,
)

DETECTOR_CLASSES: tuple[type[Detector], ...] = (
    UpstashRedisTokenDetector,
    UpstashIndexTokenDetector,
    QStashTokenDetector,
    QStashSigningKeyDetector,
    RedisUrlDetector,
    UpstashEnvDetector,
    UpstashUsageDetector,
    VercelTokenDetector,
    VercelLegacyTokenDetector,
    *SERVICE_DETECTORS,
    DatabaseUrlDetector,
    GenericSecretDetector,
)


def default_detectors() -> tuple[Detector, ...]:
    """One instance of every built-in detector, in registry order."""
    return tuple(cls() for cls in DETECTOR_CLASSES)


def _all_rules() -> dict[str, Rule]:
    from keyroll.scan.detectors import qstash, upstash_env, upstash_index, upstash_redis

    rules: dict[str, Rule] = {}
    extra = (
        upstash_redis.REDIS_REST_TOKEN,
        upstash_redis.REDIS_READONLY_TOKEN,
        upstash_index.VECTOR_TOKEN,
        upstash_index.SEARCH_TOKEN,
        upstash_index.INDEX_TOKEN,
        qstash.QSTASH_TOKEN,
        qstash.QSTASH_SIGNING_KEY,
        upstash_env.REDIS_PASSWORD,
        upstash_env.DEVELOPER_API_KEY,
    )
    for rule in (*extra, *(r for cls in DETECTOR_CLASSES for r in cls.rules), KNOWN_VALUE):
        rules.setdefault(rule.id, rule)
    return rules


RULES: dict[str, Rule] = _all_rules()
"""Every rule keyroll can report, by id."""
