"""Preflight: read-only checks of the platform risks a plan meets, before anything is written.

``keyroll preflight`` (and ``plan`` / ``apply --dry-run``, which run it) reads the team's Vercel plan,
quotas, project settings and the Upstash resources in scope, and reports every :class:`Risk` found:
what blocks the rotation, what only warns. Nothing here writes, except an explicitly named scratch
resource (``--scratch-database``).
"""
