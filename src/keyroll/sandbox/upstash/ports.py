"""TCP ports for the sandbox's redis-servers, without a pick-then-bind race.

The old way — bind port 0, read the number, close the socket, start ``redis-server`` on that
number — leaves a gap in which any process on the machine may take the port: another
``bind(0)``, or just an outgoing connection whose kernel-chosen source port happens to be
it. redis-server then fails to bind, exits, and the sandbox dies (or, worse, a foreign
listener answers on "our" port).

What this module does instead:

1. **Hold a reservation.** :func:`reserve` binds the port with ``SO_REUSEADDR`` and never
   listens on it. Linux then keeps the port out of every ephemeral allocation (``bind(0)`` and
   the source port of ``connect()`` skip ports that have a bound socket), yet lets
   redis-server — which also sets ``SO_REUSEADDR`` — bind and listen on it, because neither
   socket listens before redis-server does. The reservation is held for the sandbox's whole
   life, so a restart of redis-server (stop, then start on the same port) cannot lose the port
   either.
2. **Prove the bind, retry otherwise.** A process that learned the number some other way and
   binds it explicitly can still get in first. So the port only counts once *our* redis-server
   answers on it (``AUTH`` as the sandbox's admin user, whose password nobody else knows); when
   redis-server exits with "Address already in use" instead, the reservation is dropped and a new
   port is tried (:func:`~keyroll.sandbox.upstash.redis_server.launch`, a bounded number of
   times, then a :class:`~keyroll.sandbox.upstash.redis_server.SandboxError` naming the
   database). This happens while the sandbox is being installed, before any token, URL or
   Vercel env var is derived from the port, so a retry changes nothing anyone has seen.

The normal path costs one extra ``bind`` per database.
"""

from __future__ import annotations

import socket

__all__ = ["candidate_port", "reserve"]


def candidate_port() -> int:
    """The port to try next: ``0`` lets the kernel choose a free one while binding (tests
    replace this to force a collision)."""
    return 0


def reserve(port: int = 0) -> socket.socket:
    """Bind ``127.0.0.1:port`` (``0``: any free port) with ``SO_REUSEADDR`` and keep it bound.

    The socket never listens; redis-server can still bind the same port (see the module doc).

    :raises OSError: the port is taken (``EADDRINUSE``) or cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock
