"""Versioned JSON report (``version``, ``kind``); every time is ISO-8601 UTC.

Keys named ``at`` or ending in ``_at`` (and ``since``/``until``/``start``/``end``) hold epoch
seconds in the model; here they become ``2026-08-01T12:00:00.123Z`` strings, so that the
document reads without a converter. Fingerprints only, never values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from keyroll.core.serde import to_jsonable
from keyroll.report.interface import ReportFormat
from keyroll.report.model import IncidentReport

__all__ = ["JsonFormat", "iso_ms"]

_TIME_KEYS = frozenset({"at", "since", "until", "start", "end", "read_at"})


def iso_ms(ts: float) -> str:
    """Epoch seconds → ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _times(obj: Any) -> Any:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if (
                (k in _TIME_KEYS or k.endswith("_at"))
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
            ):
                out[k] = iso_ms(float(v)) if v else None
            else:
                out[k] = _times(v)
        return out
    if isinstance(obj, list):
        return [_times(v) for v in obj]
    return obj


class JsonFormat(ReportFormat):
    """The report as one JSON document."""

    media_type = "application/json"
    suffix = ".json"

    def format(self, report: IncidentReport) -> str:
        data = to_jsonable(report)
        return json.dumps(_times(data), indent=2) + "\n"
