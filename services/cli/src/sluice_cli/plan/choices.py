"""The plan's option choices, in a module of their own: the ``sluice`` app imports it at startup."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Architecture", "Network"]


class Architecture(StrEnum):
    """The functions' instruction set (GB-seconds are priced per architecture)."""

    ARM64 = "arm64"
    X86_64 = "x86_64"


class Network(StrEnum):
    """How the functions in the VPC reach AWS APIs: interface endpoints or NAT gateways."""

    ENDPOINTS = "endpoints"
    NAT = "nat"
