"""Upstash's ACL behaviour on top of a stock redis-server.

Handled here, before anything reaches the server (``shared/reference/upstash-api.md`` §2.3):

* ``ACL GENTOKEN user [password]`` — returns a token that wraps the password; the token is
  both a valid ``SETUSER >token`` password and a REST bearer token of that user.
* ``ACL RESTTOKEN user password`` — checks the pair with a real ``AUTH`` and mints a REST
  token bound to it (checked again on every request, so it dies with the password or user).
* ``ACL SETUSER`` — only the rules Upstash's ``acl-setuser`` page documents (:func:`rule_error`):
  ``on``/``off``, ``>token`` (a token from ``ACL GENTOKEN`` for that user — plain passwords are
  refused), ``<token``, ``!<sha256>``, ``resetpass``, ``~pattern``/``allkeys``/``resetkeys``,
  ``&pattern``/``allchannels``/``resetchannels``, ``+cmd``/``-cmd``, ``+@cat``/``-@cat``,
  ``allcommands``/``nocommands``, ``reset``. ``nopass``, ``#hash``, subcommand rules,
  selectors and ``%R~``-style key permissions are refused; ``default`` cannot be modified.
  Password/``off`` changes kill the user's live TCP connections, because Upstash applies ACL
  changes to existing connections at once.
* ``ACL DELUSER default`` is rejected; ``ACL LIST/USERS/GETUSER`` hide the sandbox's admin user.

* On a free database (no ACL: "ACL is available on all paid databases") ``GENTOKEN``,
  ``RESTTOKEN``, ``SETUSER`` and ``DELUSER`` answer :data:`FREE_PLAN_ERROR` (wording unconfirmed).

Every extension first runs ``ACL WHOAMI`` as the caller, so a caller without ACL permission
gets the server's own ``NOPERM`` error.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions as rexc

from keyroll.core.acl_rules import RuleProblem, rule_form
from keyroll.sandbox.upstash import tokens
from keyroll.sandbox.upstash.redis_server import ADMIN_USER, ServerError, Unauthorized, scrub_error
from keyroll.sandbox.upstash.state import RedisDB, TokenBinding

__all__ = ["FREE_PLAN_ERROR", "PASSTHROUGH", "handle_acl", "resolve_token", "scrub_error"]

FREE_PLAN_ERROR = "ERR ACL is not available on free databases, upgrade the database to a paid plan"
"""what ACL user management answers on a free database (Upstash's exact text is unconfirmed)"""

PASSTHROUGH: Any = object()
"""returned by :func:`handle_acl` when the server should run the command unchanged"""

RESERVED = {"default", "default_ro", ADMIN_USER}
_PASSWORD_RULES = ("<", "!", "resetpass", "off", "reset")


def _err(text: str) -> rexc.ResponseError:
    code, _, rest = text.partition(" ")
    return rexc.ResponseError(rest, status_code=code)


def _s(arg: bytes) -> str:
    return arg.decode("utf-8", "replace")


def resolve_token(db: RedisDB, token: str) -> TokenBinding | None:
    """The (user, password) a REST bearer token stands for, if any."""
    binding = db.tokens.get(token)
    if binding is not None:
        return binding
    gen = tokens.parse_gentoken(token)
    if gen is not None and gen.port == db.tcp_port and gen.user not in (ADMIN_USER,):
        # A GENTOKEN token is the user's password itself once SETUSER >token ran.
        return TokenBinding(user=gen.user, password=token, kind="acl")
    return None


async def handle_acl(db: RedisDB, caller: TokenBinding, args: list[bytes]) -> Any:
    """Handle an ``ACL …`` command; returns the reply, or :data:`PASSTHROUGH`.

    :raises Unauthorized: the caller's own credentials stopped working.
    :raises ServerError: the server is unreachable.
    """
    assert db.server is not None
    sub = _s(args[1]).upper() if len(args) > 1 else ""
    if db.free and sub in ("GENTOKEN", "RESTTOKEN", "SETUSER", "DELUSER"):
        return _err(FREE_PLAN_ERROR)
    if sub in ("GENTOKEN", "RESTTOKEN", "SETUSER", "DELUSER"):
        (whoami,) = await db.server.execute(caller.user, caller.password, [["ACL", "WHOAMI"]])
        if isinstance(whoami, rexc.ResponseError):
            return whoami
    if sub == "GENTOKEN":
        return _gentoken(db, args)
    if sub == "RESTTOKEN":
        return await _resttoken(db, args)
    if sub == "SETUSER":
        return await _setuser(db, caller, args)
    if sub == "DELUSER":
        return await _deluser(db, caller, args)
    if sub in ("LIST", "USERS"):
        (reply,) = await db.server.execute(caller.user, caller.password, [args])
        if isinstance(reply, list):
            hidden = ADMIN_USER.encode()
            return [x for x in reply if x != hidden and not x.startswith(b"user " + hidden + b" ")]
        return reply
    if sub == "GETUSER" and len(args) == 3 and _s(args[2]) == ADMIN_USER:
        (reply,) = await db.server.execute(caller.user, caller.password, [["ACL", "WHOAMI"]])
        return reply if isinstance(reply, rexc.ResponseError) else None
    return PASSTHROUGH


def rule_error(rule: str) -> str:
    """Why Upstash refuses an ``ACL SETUSER`` rule (``""``: a documented form), in its words."""
    problem = rule_form(rule)
    if problem is None:
        return ""
    syntax = f"ERR Error in ACL SETUSER modifier '{rule}': Syntax error"
    return {
        RuleProblem.NOPASS: "ERR nopass is not supported: every user needs a password from ACL GENTOKEN",
        RuleProblem.HASHED: "ERR hashed passwords are not supported: use a token from ACL GENTOKEN",
        RuleProblem.EMPTY_PASSWORD: "ERR empty password",
        RuleProblem.BAD_HASH: "ERR !hash needs a 64-character lowercase SHA-256 hash",
        RuleProblem.EMPTY_PATTERN: syntax,
        RuleProblem.SUBCOMMAND: "ERR subcommand rules are not supported",
        RuleProblem.INCOMPLETE: syntax,
        RuleProblem.UNDOCUMENTED: f"ERR Error in ACL SETUSER modifier '{rule}': not supported",
    }[problem]


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() for c in name) and len(name.encode()) <= 128


def _gentoken(db: RedisDB, args: list[bytes]) -> Any:
    if len(args) not in (3, 4):
        return _err("ERR wrong number of arguments for 'acl|gentoken' command")
    user = _s(args[2])
    if not _valid_name(user) or user == ADMIN_USER:
        return _err("ERR invalid username")
    if len(args) == 4:
        password = _s(args[3])
        if len(password) < 16 or len(set(password)) < 6:
            return _err("ERR password is too weak")
    else:
        password = tokens.new_password()
    try:
        return tokens.redis_gentoken(db.tcp_port, user, password).encode()
    except ValueError:
        return _err("ERR password is too long")


async def _resttoken(db: RedisDB, args: list[bytes]) -> Any:
    assert db.server is not None
    if len(args) != 4:
        return _err("ERR wrong number of arguments for 'acl|resttoken' command")
    user, password = _s(args[2]), _s(args[3])
    failure = _err(f'ERR Wrong password or user "{user}" does not exist')
    if user == ADMIN_USER or not _valid_name(user):
        return failure
    candidates = [password]
    if tokens.parse_gentoken(password) is None and 0 < len(password) <= 255:
        candidates.append(tokens.redis_gentoken(db.tcp_port, user, password))
    for candidate in candidates:
        try:
            await db.server.execute(user, candidate, [])
        except Unauthorized:
            continue
        token = tokens.redis_resttoken(db.tcp_port)
        db.tokens[token] = TokenBinding(user=user, password=candidate, kind="acl")
        return token.encode()
    return failure


async def _setuser(db: RedisDB, caller: TokenBinding, args: list[bytes]) -> Any:
    assert db.server is not None
    if len(args) < 3:
        return _err("ERR wrong number of arguments for 'acl|setuser' command")
    user = _s(args[2])
    if user == "default":
        return _err("ERR the default user can not be modified")
    if user in RESERVED:
        return _err(f"ERR the {user} user is reserved and can not be modified")
    kill = False
    for raw in args[3:]:
        rule = _s(raw)
        low = rule.lower()
        problem = rule_error(rule)
        if problem:
            return _err(problem)
        if rule.startswith(">"):
            gen = tokens.parse_gentoken(rule[1:])
            if gen is None:
                return _err(
                    "ERR plain-text passwords are not supported: add a token from ACL GENTOKEN with >token"
                )
            if gen.user != user or gen.port != db.tcp_port:
                return _err("ERR the token was generated for another user")
        if rule.startswith(("<", "!")) or low in _PASSWORD_RULES:
            kill = True
    (reply,) = await db.server.execute(caller.user, caller.password, [args])
    if isinstance(reply, rexc.ResponseError):
        return _err(scrub_error(f"{reply.status_code or 'ERR'} {reply}"))
    if kill:
        await _kill(db, user)
    await _persist(db)
    return reply


async def _deluser(db: RedisDB, caller: TokenBinding, args: list[bytes]) -> Any:
    assert db.server is not None
    names = [_s(a) for a in args[2:]]
    if not names:
        return _err("ERR wrong number of arguments for 'acl|deluser' command")
    if "default" in names:
        return _err("ERR The 'default' user cannot be removed")
    if any(n in RESERVED for n in names):
        return _err("ERR reserved users cannot be removed")
    (reply,) = await db.server.execute(caller.user, caller.password, [args])
    if not isinstance(reply, rexc.ResponseError):
        gone = set(names)
        for token in [t for t, b in db.tokens.items() if b.user in gone]:
            del db.tokens[token]
        await _persist(db)
    return reply


async def _kill(db: RedisDB, user: str) -> None:
    assert db.server is not None
    try:
        await db.server.admin("CLIENT", "KILL", "USER", user)
    except ServerError:
        pass  # "No such user" or nobody connected


async def _persist(db: RedisDB) -> None:
    """``ACL SAVE`` so that users survive a redis-server restart."""
    assert db.server is not None
    try:
        await db.server.admin("ACL", "SAVE")
    except ServerError:
        pass
