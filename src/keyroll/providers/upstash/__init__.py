"""Upstash clients: Developer API, Redis REST, QStash, Vector, Search."""
