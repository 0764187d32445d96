"""The local pipeline's database: its URL, which source provided it, and the URL masked for printing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DatabaseKind", "ProvisionedDatabase", "mask_password"]

MASK: Final = "***"


class DatabaseKind(StrEnum):
    """Which of the three sources provided the database."""

    EXPLICIT = "explicit URL"
    CONTAINER = "testcontainers"
    CLUSTER = "throwaway local cluster"


@dataclass(frozen=True, slots=True)
class ProvisionedDatabase:
    """A database URL and where it came from."""

    url: str
    kind: DatabaseKind
    where: str = ""  # the container's id or the cluster's directory: what to look for if it were left behind


def mask_password(url: str) -> str:
    """``url`` (URL or ``key=value`` conninfo) with its password replaced by ``***``."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostinfo}"))
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415 - only for conninfo strings

    try:
        params = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparseable string is printed fully masked, never half-shown
        return MASK
    if "password" not in params:
        return url
    params["password"] = MASK
    return make_conninfo("", **params)
