"""SSRF guard for addresses the gateway itself connects to (provider base URLs, JWKS URLs).

Only globally routable addresses are allowed by default. Loopback and every other
non-global range (private, shared CGNAT space, IPv6 site-local, documentation, benchmarking)
only when ``ALLOW_PRIVATE_UPSTREAMS`` is on; link-local, multicast, reserved and cloud
metadata addresses never (SPEC section 8). The rule allows what is known to be global rather
than refusing what is known to be private: a range the ``ipaddress`` module does not call
private (100.64.0.0/10, fec0::/10) is still not the Internet.

Two checks, because a name checked once can point anywhere later:

* at write time, :func:`url_clean` refuses URLs whose host is a refused address or a
  metadata host name;
* at request time, :class:`GuardedResolver` checks every address a host name resolves to,
  in the very lookup whose answer the connection then uses (so a name that changes its
  answer between two lookups, DNS rebinding, gains nothing), and :func:`url_literal_refusal`
  checks URLs whose host is an IP literal, which never reach a resolver.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from django.conf import settings
from django.core.exceptions import ValidationError

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
# Metadata services outside link-local space (169.254.0.0/16 and fe80::/10 are refused whole).
# Azure's wire server is a public address, so "not global" alone would let it through.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (and its DNS, DHCP and health probes)
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
NEVER = "link-local, metadata or reserved addresses are never allowed"
PRIVATE_OFF = "private and loopback addresses are not allowed (ALLOW_PRIVATE_UPSTREAMS is off)"


class UpstreamAddressRefused(OSError):
    """The gateway will not connect to this address.

    An ``OSError``, so that aiohttp reports a refusal by :class:`GuardedResolver` like any
    other failed lookup (``ClientConnectorDNSError``, whose ``os_error`` is this exception).
    """


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> str | None:
    """Why the gateway must not connect to this address, or None.

    An IPv6 address that carries an IPv4 one (``::ffff:a.b.c.d``, 6to4 ``2002:…``) is judged
    as the IPv4 address it reaches.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    if ip in METADATA_ADDRESSES:
        return "cloud metadata addresses are never allowed"
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return NEVER
    # Loopback before reserved: ::1 also counts as "reserved" to the ipaddress module.
    if ip.is_loopback:
        return None if allow_private else PRIVATE_OFF
    if ip.is_reserved:
        return NEVER
    # is_global, not is_private: shared (CGNAT) space is neither. Site-local fec0::/10 is
    # deprecated but still routed inside networks, and Python before 3.13 calls it global.
    if ip.is_global and not (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return None
    return None if allow_private else PRIVATE_OFF


def _host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a URL host names literally, including the legacy IPv4 spellings
    (``2130706433``, ``0x7f.1``, ``127.1``) that the C resolver would accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


@functools.lru_cache(maxsize=1024)
def url_literal_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why a URL must not be fetched, judged from its text alone (IP literal or metadata host).

    Host names that pass are checked after resolution by :class:`GuardedResolver`. Remembered
    per URL and setting: the proxy asks on every request, and the answer depends on nothing
    else (parsing the address on every request showed in the instruction count:
    docs/performance.md → Decisions).
    """
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in METADATA_HOSTS:
        return "cloud metadata hosts are never allowed"
    ip = _host_address(host)
    return address_refusal(ip, allow_private=allow_private) if ip is not None else None


def url_clean(value: object, *, field: str) -> str:
    """Validate a URL at write time; hostnames are checked again after DNS at request time."""
    if not isinstance(value, str) or len(value) > 2000:
        raise ValidationError({field: "must be an http(s) URL"})
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({field: "must be an http(s) URL"})
    if parts.username or parts.password:
        raise ValidationError({field: "must not carry credentials in the URL"})
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise ValidationError({field: "cloud metadata hosts are never allowed"})
    ip = _host_address(host)
    if ip is None:
        if host == "localhost" and not settings.ALLOW_PRIVATE_UPSTREAMS:
            raise ValidationError({field: "loopback addresses are not allowed"}) from None
        return value.strip()
    refusal = address_refusal(ip, allow_private=settings.ALLOW_PRIVATE_UPSTREAMS)
    if refusal:
        raise ValidationError({field: refusal})
    return value.strip()


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses a host name if any of its addresses is refused.

    ``inner`` does the actual lookup (aiohttp's default resolver unless given; tests give
    one with a fixed map of names). ``ALLOW_PRIVATE_UPSTREAMS`` is read on every lookup.
    Must be created inside the event loop that uses it.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise UpstreamAddressRefused(f"{host}: cloud metadata hosts are never allowed")
        results = await self._inner.resolve(host, port, family)
        allow_private = settings.ALLOW_PRIVATE_UPSTREAMS
        for result in results:
            # A scoped IPv6 address ("fe80::1%eth0") carries its zone after '%'.
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])
            refusal = address_refusal(address, allow_private=allow_private)
            if refusal:
                raise UpstreamAddressRefused(f"{host} resolves to {result['host']}: {refusal}")
        return results

    async def close(self) -> None:
        await self._inner.close()
