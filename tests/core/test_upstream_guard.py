"""SSRF guard (SPEC section 8): metadata and link-local always refused; with
ALLOW_PRIVATE_UPSTREAMS off, only globally routable addresses pass."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.upstream_guard import url_clean
from tests import factories

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://100.100.100.200/",
    "http://0.0.0.0:8080/",
    "http://168.63.129.16/machine/",  # Azure's wire server: a public address, never an upstream
    "http://[::ffff:168.63.129.16]/",
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "http://240.0.0.1/",  # reserved
]
# Neither private nor global: Python's is_private says no, so only "not is_global" refuses them.
NOT_GLOBAL = [
    "http://100.64.0.1/v1",  # shared address space (carrier-grade NAT, Tailscale)
    "http://100.127.255.254/v1",
    "http://[fec0::1]/v1",  # IPv6 site-local (Python before 3.13 even calls it global)
    "http://[2002:0a00:0001::1]/v1",  # 6to4 of 10.0.0.1
]
PRIVATE = [
    "http://127.0.0.1:11434/v1",
    "http://10.0.0.7/v1",
    "http://192.168.1.20/v1",
    "http://172.16.0.1/v1",
    "http://localhost:8080/v1",
]


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_it_always_refuses_metadata_and_link_local_addresses(settings, url, allow_private):
    settings.ALLOW_PRIVATE_UPSTREAMS = allow_private

    with pytest.raises(ValidationError) as caught:
        url_clean(url, field="base_url")

    assert "base_url" in caught.value.message_dict


@pytest.mark.parametrize("url", [*PRIVATE, *NOT_GLOBAL, "http://[::1]:8080/v1", "http://[fd00::5]/v1"])
def test_it_refuses_loopback_and_private_addresses_when_private_upstreams_are_off(settings, url):
    settings.ALLOW_PRIVATE_UPSTREAMS = False

    with pytest.raises(ValidationError) as caught:
        url_clean(url, field="base_url")

    assert "base_url" in caught.value.message_dict


@pytest.mark.parametrize("url", [*PRIVATE, *NOT_GLOBAL])
def test_it_accepts_loopback_and_private_addresses_when_private_upstreams_are_on(settings, url):
    settings.ALLOW_PRIVATE_UPSTREAMS = True

    assert url_clean(url, field="base_url") == url


@pytest.mark.parametrize("allow_private", [True, False])
def test_it_accepts_a_public_https_url(settings, allow_private):
    settings.ALLOW_PRIVATE_UPSTREAMS = allow_private

    assert url_clean(" https://api.openai.com/v1 ", field="base_url") == "https://api.openai.com/v1"


@pytest.mark.parametrize("url", ["http://8.8.8.8/v1", "http://[2606:4700::1111]/v1", "http://[2002:808:808::1]/v1"])
def test_it_accepts_globally_routable_addresses_with_private_upstreams_off(settings, url):
    settings.ALLOW_PRIVATE_UPSTREAMS = False

    assert url_clean(url, field="base_url") == url


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "https://", "not a url", "https://user:pw@example.com/", None, 42],
)
def test_it_refuses_what_is_not_a_plain_http_url(settings, url):
    settings.ALLOW_PRIVATE_UPSTREAMS = True

    with pytest.raises(ValidationError):
        url_clean(url, field="base_url")


def test_it_refuses_a_metadata_provider_base_url_on_write(tenant, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True

    with pytest.raises(ValidationError) as caught:
        factories.make_provider(tenant, kind="openai_compatible", base_url="http://169.254.169.254/v1")

    assert "base_url" in caught.value.message_dict
