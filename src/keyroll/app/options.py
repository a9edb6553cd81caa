"""The options of one ``apply`` / ``resume`` / ``rollback``, built from the settings.

Precedence: a command-line flag > ``keyroll.toml [policy]`` > the built-in default (the defaults
of :class:`~keyroll.rotate.options.ApplyOptions`). :func:`effective_policy` says, per ``[policy]``
key, the value in force and where it came from (``keyroll config show`` prints it, the plan and
the journal record it); :func:`apply_options` turns those settings plus the run's other switches
into the :class:`ApplyOptions` the engine is given, with the provenance of each set one — so the
journal shows whether downtime was accepted by a flag or by ``keyroll.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyroll.config import Config
from keyroll.config.policy import Setting
from keyroll.rotate.options import ApplyOptions

__all__ = ["apply_options", "effective_policy"]

_BUILT_IN = ApplyOptions()


def effective_policy(
    cfg: Config,
    *,
    accept_downtime: bool | None = None,
    max_parallel_builds: int | None = None,
    build_timeout_s: float | None = None,
) -> dict[str, Setting]:
    """Each ``[policy]`` key's effective value and source; a flag given on the command line
    (not ``None``) wins over the file, the file over the built-in default."""
    flags: dict[str, tuple[Any, str]] = {
        "accept_downtime": (
            accept_downtime,
            "--accept-downtime" if accept_downtime else "--no-accept-downtime",
        ),
        "max_parallel_builds": (max_parallel_builds, "--max-parallel-builds"),
        "build_timeout_s": (build_timeout_s, "--build-timeout"),
        "require_sensitive": (None, ""),
    }
    built_in: dict[str, Any] = {
        "accept_downtime": _BUILT_IN.accept_downtime,
        "max_parallel_builds": _BUILT_IN.max_parallel_builds,
        "build_timeout_s": _BUILT_IN.build_timeout_s,
        "require_sensitive": False,
    }
    out: dict[str, Setting] = {}
    for key, (flag, flag_name) in flags.items():
        from_file = getattr(cfg.policy, key)
        if flag is not None:
            out[key] = Setting(flag, flag_name)
        elif from_file is not None:
            out[key] = Setting(from_file, f"{cfg.toml_path} [policy]")
        else:
            out[key] = Setting(built_in[key], "default")
    return out


def apply_options(settings: Mapping[str, Setting], **options: Any) -> ApplyOptions:
    """:class:`ApplyOptions` from :func:`effective_policy`'s settings plus the other switches
    (``yes``, ``dry_run`` …); ``sources`` records where each explicitly set one came from, so
    the journal shows whether downtime was accepted by a flag or by ``keyroll.toml``."""
    keys = ("accept_downtime", "max_parallel_builds", "build_timeout_s")
    return ApplyOptions(
        **{k: settings[k].value for k in keys},
        sources={k: settings[k].source for k in keys if settings[k].source != "default"},
        **options,
    )
