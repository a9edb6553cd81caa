"""The fake Upstash account: the Developer API, QStash and the Vector/Search data APIs.

Integration-managed databases live in a Vercel-owned account: absent from the Developer API's
lists, 404 on reads and resets. QStash answers signing keys and token checks against the
world's QStash user; the index APIs check tokens against the world's indexes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyroll.core.errors import AuthError, NotFoundError
from keyroll.core.model import Management
from keyroll.core.secret import Secret
from keyroll.providers.upstash.developer import QStashUser, RedisDatabase, SearchIndex, VectorIndex
from keyroll.providers.upstash.qstash import SigningKeys
from tests.fakes.common import FakeAPI, token

if TYPE_CHECKING:
    from tests.fakes.redis import FakeDB
    from tests.fakes.world import FakeWorld


_INDEX_PREFIXES = {"vector": ("VT", "VR"), "search": ("ST", "SR")}


@dataclass
class FakeIndexState:
    """A Vector or Search index; ``host`` is the Developer API ``endpoint``."""

    id: str
    name: str
    product: str
    host: str
    token: str = ""
    ro_token: str = ""

    def __post_init__(self) -> None:
        if not self.token:
            self.reset()

    @property
    def url(self) -> str:
        """The data-API URL."""
        return f"https://{self.host}"

    def reset(self) -> None:
        """New regular and read-only tokens; the old ones die."""
        rw, ro = _INDEX_PREFIXES[self.product]
        self.token, self.ro_token = token(rw), token(ro)

    def api(self) -> VectorIndex | SearchIndex:
        """The Developer API's view."""
        model = VectorIndex if self.product == "vector" else SearchIndex
        return model(
            id=self.id,
            name=self.name,
            endpoint=self.host,
            token=Secret(self.token),
            read_only_token=Secret(self.ro_token),
        )


class FakeDeveloper(FakeAPI):
    """:class:`DeveloperAPI` over the world's databases, indexes and QStash user.

    Integration-managed databases live in a Vercel-owned account: absent from lists, 404 here.
    ``resets`` records ``(resource id, time)`` of every reset and token rotation.
    """

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.resets: list[tuple[str, float]] = []

    def _native(self, db_id: str) -> FakeDB:
        db = self.world.dbs.get(db_id)
        if db is None or db.management is not Management.NATIVE:
            raise NotFoundError(f"upstash: database {db_id} not found", service="upstash", status=404)
        return db

    async def list_redis(self) -> list[RedisDatabase]:
        await self._enter("list_redis")
        return [db.api() for db in self.world.dbs.values() if db.management is Management.NATIVE]

    async def get_redis(self, database_id: str) -> RedisDatabase:
        await self._enter("get_redis", database_id)
        return self._native(database_id).api()

    async def reset_redis_password(self, database_id: str) -> RedisDatabase:
        await self._enter("reset_redis_password", database_id)
        db = self._native(database_id)
        db.reset()
        self.resets.append((database_id, time.time()))
        return db.api(show_credentials=True)  # shown once, even under credential protection

    def _index(self, product: str, index_id: str) -> FakeIndexState:
        idx = self.world.indexes.get(index_id)
        if idx is None or idx.product != product:
            raise NotFoundError(
                f"upstash: {product} index {index_id} not found", service="upstash", status=404
            )
        return idx

    async def _list_indexes(self, product: str) -> list[Any]:
        await self._enter(f"list_{product}")
        return [i.api() for i in self.world.indexes.values() if i.product == product]

    async def _get_index(self, product: str, index_id: str) -> Any:
        await self._enter(f"get_{product}", index_id)
        return self._index(product, index_id).api()

    async def _reset_index(self, product: str, index_id: str) -> Any:
        await self._enter(f"reset_{product}", index_id)
        idx = self._index(product, index_id)
        idx.reset()
        self.resets.append((index_id, time.time()))
        return idx.api()

    async def list_vector(self) -> list[VectorIndex]:
        return await self._list_indexes("vector")

    async def get_vector(self, index_id: str) -> VectorIndex:
        return await self._get_index("vector", index_id)  # type: ignore[no-any-return]

    async def reset_vector(self, index_id: str) -> VectorIndex:
        return await self._reset_index("vector", index_id)  # type: ignore[no-any-return]

    async def list_search(self) -> list[SearchIndex]:
        return await self._list_indexes("search")

    async def get_search(self, index_id: str) -> SearchIndex:
        return await self._get_index("search", index_id)  # type: ignore[no-any-return]

    async def reset_search(self, index_id: str) -> SearchIndex:
        return await self._reset_index("search", index_id)  # type: ignore[no-any-return]

    async def list_qstash_users(self) -> list[QStashUser]:
        await self._enter("list_qstash_users")
        return [self.world.qstash_user()] if self.world.qstash_state else []

    async def rotate_qstash_token(self, user_id: str) -> QStashUser:
        await self._enter("rotate_qstash_token", user_id)
        q = self.world.qstash_state
        if not q or q["user_id"] != user_id:
            raise NotFoundError(f"upstash: qstash user {user_id} not found", service="upstash", status=404)
        q["token"] = token("eyJVc2VySUQi")
        if q["ro_token"]:
            q["ro_token"] = token("eyJVc2VyUk8i")
        self.resets.append((user_id, time.time()))
        return self.world.qstash_user()


class FakeQStash(FakeAPI):
    """:class:`QStashAPI`: signing keys and token checks against the world's QStash user."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.rolls = 0

    @property
    def current(self) -> Secret:
        """The current signing key."""
        return Secret(self.world.qstash_state["current"])

    @property
    def next(self) -> Secret:
        """The next signing key."""
        return Secret(self.world.qstash_state["next"])

    def _keys(self, token: Secret, what: str) -> SigningKeys:
        if not self.world.qstash_state or token.reveal() != self.world.qstash_state["token"]:
            raise AuthError(f"qstash: {what}: HTTP 401", service="qstash", status=401)
        return SigningKeys(current=self.current, next=self.next)

    async def get_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        await self._enter("get_keys")
        return self._keys(token, "GET /v2/keys")

    async def rotate_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        await self._enter("rotate_keys")
        self._keys(token, "POST /v2/keys/rotate")
        q = self.world.qstash_state
        q["current"], q["next"] = q["next"], "sig_" + secrets.token_urlsafe(24)  # `token` is shadowed
        self.rolls += 1
        return self._keys(token, "POST /v2/keys/rotate")

    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        await self._enter("check_token")
        return bool(self.world.qstash_state) and token.reveal() == self.world.qstash_state["token"]


class FakeIndexAPI(FakeAPI):
    """:class:`IndexAPI` for Vector/Search."""

    def __init__(self, world: FakeWorld, product: str) -> None:
        super().__init__(world)
        self.product = product

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        await self._enter("info", url)
        for i in self.world.indexes.values():
            if i.url == url.rstrip("/") and token.reveal() in (i.token, i.ro_token):
                return {"vectorCount": 0}
        raise AuthError(
            f"{self.product}: HTTP 401 — Unauthorized: Invalid auth token", service=self.product, status=401
        )

    async def check_write(self, url: str, token: Secret) -> bool:
        await self._enter("check_write", url)
        return any(
            i.url == url.rstrip("/") and token.reveal() == i.token for i in self.world.indexes.values()
        )
