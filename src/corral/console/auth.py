"""Login schemes: how a browser's credential becomes a ZooKeeper `addauth` on its own session.

The console never checks a password itself: it opens a ZooKeeper session for the browser and adds the
credential to it, so the server's ACLs decide what that browser may read and change, exactly as for
any other client. Each scheme says which form fields it needs and how they make the auth packet;
adding a scheme the server supports (e.g. one with a token) is one more entry in `SCHEMES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["SCHEMES", "BadCredential", "Login", "LoginScheme"]

MAX_FIELD = 1024


class BadCredential(ValueError):
    """The form is unusable for this scheme (said without echoing the secret)."""


@dataclass(frozen=True, slots=True)
class Login:
    """What a login becomes: the addauth packet, and the name shown in the page (never the secret)."""

    scheme: str
    credential: bytes
    display: str


@dataclass(frozen=True, slots=True)
class LoginScheme:
    name: str
    fields: tuple[tuple[str, str, bool], ...]  # (form field, label, secret)
    build: Callable[[Mapping[str, str]], Login]

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "fields": [{"name": f, "label": label, "secret": secret}
                                              for f, label, secret in self.fields]}


def _field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise BadCredential(f"{name} must be text")
    if len(value) > MAX_FIELD:
        raise BadCredential(f"{name} is longer than {MAX_FIELD} characters")
    if any(not c.isprintable() for c in value):
        raise BadCredential(f"{name} contains control characters")
    return value


def _digest(form: Mapping[str, str]) -> Login:
    user = _field(form, "user")
    password = _field(form, "password")
    if not user:
        raise BadCredential("user is empty")
    if ":" in user:
        raise BadCredential("a digest user name cannot contain ':'")
    return Login("digest", f"{user}:{password}".encode(), f"digest:{user}")


SCHEMES: dict[str, LoginScheme] = {
    "digest": LoginScheme("digest", (("user", "User", False), ("password", "Password", True)), _digest),
}
