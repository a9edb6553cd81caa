"""The fake Upstash Redis: databases with real-ish ACL semantics and REST tokens.

:class:`FakeDB` holds one database's ACL users, REST tokens and data (credential protection:
Developer API reads omit the credentials); :class:`FakeRedis` answers the REST command API
(:class:`keyroll.providers.upstash.redis.RedisREST`) over the world's databases, by URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.model import Management
from keyroll.core.secret import Secret
from keyroll.providers.upstash.developer import RedisDatabase
from keyroll.providers.upstash.probe import ProbeResult
from tests.fakes.common import FakeAPI, token

if TYPE_CHECKING:
    from tests.fakes.world import FakeWorld


@dataclass
class RedisUser:
    name: str
    passwords: set[str] = field(default_factory=set)
    on: bool = True
    readonly: bool = False
    admin: bool = True


@dataclass
class FakeDB:
    """A Redis database: ACL users, REST tokens, data; ``host`` is the Developer API ``endpoint``."""

    id: str
    name: str
    host: str
    management: Management = Management.NATIVE
    users: dict[str, RedisUser] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """REST token → (user, password)"""
    password: str = ""
    rest_token: str = ""
    ro_password: str = ""
    ro_token: str = ""
    data: dict[str, str] = field(default_factory=dict)
    minted: set[str] = field(default_factory=set)
    """passwords ``ACL GENTOKEN`` handed out: the only ones ``ACL SETUSER`` accepts (as Upstash)"""
    credential_protection: bool = False
    """reads of the Developer API omit the credentials"""

    @property
    def url(self) -> str:
        """The REST URL."""
        return f"https://{self.host}"

    def reset(self, *, rest_token: str | None = None) -> None:
        """Developer API reset: new default password, both default tokens; old ones die.

        :param rest_token: the new standard token (tests that need a known value).
        """
        for tok in (self.rest_token, self.ro_token):
            self.tokens.pop(tok, None)
        self.password, self.ro_password = token(), token()
        self.rest_token, self.ro_token = rest_token or token("AX"), token("An")
        self.users["default"] = RedisUser("default", {self.password})
        self.users["default_ro"] = RedisUser("default_ro", {self.ro_password}, readonly=True, admin=False)
        self.tokens[self.rest_token] = ("default", self.password)
        self.tokens[self.ro_token] = ("default_ro", self.ro_password)

    def issue_token(self, user: str, password: str) -> str:
        """A REST token for ``user`` with ``password`` (``ACL RESTTOKEN``)."""
        tok = token("AY")
        self.tokens[tok] = (user, password)
        return tok

    def add_user(self, name: str) -> str:
        """An ACL user with every command and one password; returns its REST token."""
        password = token()
        self.users[name] = RedisUser(name, {password})
        return self.issue_token(name, password)

    def auth(self, token: str) -> RedisUser | None:
        entry = self.tokens.get(token)
        if entry is None:
            return None
        user = self.users.get(entry[0])
        if user is None or not user.on or entry[1] not in user.passwords:
            return None
        return user

    def tcp_auth(self, user: str, password: str) -> bool:
        u = self.users.get(user)
        return u is not None and u.on and password in u.passwords

    def api(self, *, show_credentials: bool | None = None) -> RedisDatabase:
        """The Developer API's view; credentials omitted under credential protection unless shown."""
        shown = not self.credential_protection if show_credentials is None else show_credentials
        return RedisDatabase(
            database_id=self.id,
            database_name=self.name,
            endpoint=self.host,
            port=6379,
            db_acl_enabled="true",
            prod_pack_enabled=self.credential_protection,
            password=Secret(self.password) if shown else None,
            rest_token=Secret(self.rest_token) if shown else None,
            read_only_rest_token=Secret(self.ro_token) if shown else None,
        )


def _redis_error(message: str) -> ProviderError:
    return ProviderError(f"redis: HTTP 400 — {message}", service="redis", status=400)


class FakeRedis(FakeAPI):
    """:class:`keyroll.providers.upstash.redis.RedisREST` over :class:`FakeDB` objects (by URL)."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.gentoken_supported = True

    def _db(self, url: str) -> FakeDB:
        for db in self.world.dbs.values():
            if db.url == url.rstrip("/"):
                return db
        raise NotFoundError(f"redis: no database at {url}", service="redis", status=404)

    async def command(self, url: str, token: Secret, *args: Any) -> Any:
        await self._enter("command", url)
        db = self._db(url)
        user = db.auth(token.reveal())
        if user is None:
            raise AuthError(
                "redis: HTTP 401 — WRONGPASS invalid or missing auth token", service="redis", status=401
            )
        cmd = [a.reveal() if isinstance(a, Secret) else str(a) for a in args]
        name = cmd[0].upper()
        if name == "PING":
            return "PONG"
        if name in ("GET", "EXISTS"):
            return db.data.get(cmd[1]) if name == "GET" else int(cmd[1] in db.data)
        if name == "SET":
            if user.readonly:
                raise _redis_error("NOPERM this user has no permissions to run the 'set' command")
            db.data[cmd[1]] = cmd[2]
            return "OK"
        if name == "ACL":
            if not user.admin:
                raise _redis_error("NOPERM")
            return self._acl(db, user, cmd[1:])
        raise _redis_error(f"ERR unknown command '{name}'")

    def _acl(self, db: FakeDB, caller: RedisUser, cmd: list[str]) -> Any:
        sub = cmd[0].upper()
        if sub == "GENTOKEN":
            if not self.gentoken_supported:
                raise _redis_error("ERR unknown subcommand")
            minted = token("gt_")
            db.minted.add(minted)
            return minted
        if sub == "WHOAMI":
            return caller.name
        if sub == "SETUSER":
            return self._setuser(db, cmd[1], cmd[2:])
        if sub == "RESTTOKEN":
            name, pw = cmd[1], cmd[2]
            user = db.users.get(name)
            if user is None or pw not in user.passwords:
                raise _redis_error(f'ERR Wrong password or user "{name}" does not exist')
            return db.issue_token(name, pw)
        if sub == "DELUSER":
            n = 0
            for name in cmd[1:]:
                if name == "default":
                    raise _redis_error("ERR default cannot be deleted")
                if db.users.pop(name, None) is not None:
                    n += 1
            return n
        raise _redis_error("ERR unknown ACL subcommand")

    @staticmethod
    def _setuser(db: FakeDB, name: str, rules: list[str]) -> str:
        if name == "default":
            raise _redis_error("ERR default user cannot be modified")
        user = db.users.setdefault(name, RedisUser(name, on=False))
        for rule in rules:
            if rule == "reset":
                user.passwords.clear()
                user.on, user.readonly, user.admin = False, False, False
            elif rule == "on":
                user.on = True
            elif rule == "off":
                user.on = False
            elif rule == "resetpass":
                user.passwords.clear()
            elif rule.startswith(">"):
                if rule[1:] not in db.minted:
                    raise _redis_error("ERR Error in ACL SETUSER modifier '>…': not supported")
                user.passwords.add(rule[1:])
            elif rule.startswith("<"):
                if rule[1:] not in user.passwords:
                    raise _redis_error("ERR Error in ACL SETUSER modifier")
                user.passwords.discard(rule[1:])
            elif rule == "+@all":
                user.admin, user.readonly = True, False
            elif rule == "+@read":
                user.readonly, user.admin = True, False
        return "OK"

    async def pipeline(self, url: str, token: Secret, commands: Any) -> list[Any]:
        return [await self.command(url, token, *c) for c in commands]

    async def probe(self, url: str, token: Secret) -> ProbeResult:
        try:
            await self.command(url, token, "PING")
        except AuthError:
            return ProbeResult.REJECTED
        return ProbeResult.ACCEPTED
