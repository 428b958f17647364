"""Helpers of the security tests."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult


class StaticResolver(AbstractResolver):
    """A DNS of the test's own: fixed answers for made-up names, no /etc/hosts needed.

    Plugged in *under* the gateway's SSRF guard, so the guard judges these answers exactly as
    it would judge real ones; ``lookups`` shows that a name was resolved before it was refused.
    """

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.hosts:
            raise OSError(f"{host}: unknown host")
        address = self.hosts[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None
