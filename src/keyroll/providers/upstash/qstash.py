"""QStash API (bearer token): signing keys and a cheap auth probe."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from keyroll.core.secret import Secret

__all__ = ["QStashAPI", "SigningKeys"]


class SigningKeys(BaseModel):
    """``{current, next}`` signing keys."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    current: Secret = Field(exclude=True)
    next: Secret = Field(exclude=True)


class QStashAPI(Protocol):
    """What keyroll needs from QStash. ``token`` is passed per call (it changes during rotation)."""

    async def get_keys(self, token: Secret) -> SigningKeys:
        """``GET /v2/keys``."""
        ...

    async def rotate_keys(self, token: Secret) -> SigningKeys:
        """``POST /v2/keys/rotate``: new current = old next; next is fresh."""
        ...

    async def check_token(self, token: Secret) -> bool:
        """True when QStash accepts the token, False on 401; raises on other failures."""
        ...
