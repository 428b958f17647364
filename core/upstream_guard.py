"""SSRF guard for addresses the gateway itself connects to (provider base URLs, JWKS URLs).

Link-local and cloud metadata addresses are refused always; loopback and private ranges
only when ``ALLOW_PRIVATE_UPSTREAMS`` is on (SPEC section 8).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> str | None:
    """Why the gateway must not connect to this address, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return "link-local, metadata or reserved addresses are never allowed"
    if str(ip) in ("100.100.100.200", "fd00:ec2::254"):
        return "cloud metadata addresses are never allowed"
    # Loopback first: ::1 also counts as "reserved" to the ipaddress module.
    if ip.is_loopback or ip.is_private:
        return (
            None if allow_private else "private and loopback addresses are not allowed (ALLOW_PRIVATE_UPSTREAMS is off)"
        )
    if ip.is_reserved:
        return "link-local, metadata or reserved addresses are never allowed"
    return None


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
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" and not settings.ALLOW_PRIVATE_UPSTREAMS:
            raise ValidationError({field: "loopback addresses are not allowed"}) from None
        return value.strip()
    refusal = address_refusal(ip, allow_private=settings.ALLOW_PRIVATE_UPSTREAMS)
    if refusal:
        raise ValidationError({field: refusal})
    return value.strip()
