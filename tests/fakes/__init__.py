"""Stateful in-memory fakes of the provider Protocols, for the inventory and rotation tests.

One module per service, each answering as the real API does where keyroll cares (status codes,
what a read shows or omits): ``vercel``, ``redis`` (Upstash Redis REST), ``upstash`` (Developer
API, QStash, Vector/Search), ``github`` (Actions secrets). ``world`` holds the state they share
(:class:`~tests.fakes.world.FakeWorld`, :func:`~tests.fakes.world.small_world`), ``inventory``
what an inventory of a world reports, ``humans`` the seams a person plays, ``common`` the call
accounting and fault injection of every fake. ``tests/contract`` checks these fakes against the
sandbox through keyroll's real clients. Import from the modules; this package re-exports nothing.
"""
