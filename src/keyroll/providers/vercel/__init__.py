"""Vercel: the REST API keyroll drives (projects, env vars, shared env vars, deployments, events).

:mod:`.models` the pydantic models, :mod:`.protocol` the :class:`VercelAPI` Protocol every
consumer is typed against, :mod:`.client` the httpx client, :mod:`.wire` its rate-limit classes
and request bodies, :mod:`.plans` what a team's plan allows a rotation. Facts:
``shared/reference/vercel-api.md``.
"""
