"""Encryption at rest of provider credentials (FIELD_ENCRYPTION_KEY, MultiFernet rotation)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core import crypto
from core.crypto import decrypt_secret, encrypt_secret
from forensics.models import Event
from providers.models import Provider
from tests import factories
from tests.core.raw_sql import raw_text

PROVIDER_API_KEY = "sk-test-SECRET123"


@pytest.fixture
def fernet_cache():
    """Drop cached Fernet instances around a test that changes FIELD_ENCRYPTION_KEY."""
    crypto._fernet.cache_clear()
    yield
    crypto._fernet.cache_clear()


@pytest.fixture
def old_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def new_key() -> str:
    return Fernet.generate_key().decode()


def test_it_stores_a_provider_api_key_encrypted(tenant):
    provider = factories.make_provider(tenant, kind="openai", api_key=PROVIDER_API_KEY)

    stored = raw_text(Provider._meta.db_table)
    assert provider.id in stored
    assert "SECRET123" not in stored
    assert Provider.objects.get(pk=provider.pk).api_key_encrypted


def test_it_keeps_the_provider_api_key_out_of_the_event_trail(tenant):
    factories.make_provider(tenant, kind="openai", api_key=PROVIDER_API_KEY)

    events = raw_text(Event._meta.db_table)
    assert "provider.created" in events
    assert "SECRET123" not in events


def test_it_decrypts_the_stored_provider_api_key(tenant):
    provider = factories.make_provider(tenant, kind="openai", api_key=PROVIDER_API_KEY)

    assert decrypt_secret(Provider.objects.get(pk=provider.pk).api_key_encrypted) == PROVIDER_API_KEY


def test_it_round_trips_a_secret():
    token = encrypt_secret("s3cr3t value é")

    assert "s3cr3t" not in token
    assert decrypt_secret(token) == "s3cr3t value é"


def test_it_encrypts_the_same_secret_differently_each_time():
    assert encrypt_secret("same") != encrypt_secret("same")


def test_it_refuses_a_tampered_token_with_a_value_error():
    token = encrypt_secret("payload")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY"):
        decrypt_secret(tampered)


def test_it_decrypts_data_of_the_old_key_after_rotation(settings, fernet_cache, old_key, new_key):
    settings.FIELD_ENCRYPTION_KEY = old_key
    token = encrypt_secret(PROVIDER_API_KEY)

    settings.FIELD_ENCRYPTION_KEY = f"{new_key},{old_key}"
    crypto._fernet.cache_clear()

    assert decrypt_secret(token) == PROVIDER_API_KEY


def test_it_encrypts_with_the_first_key_after_rotation(settings, fernet_cache, old_key, new_key):
    settings.FIELD_ENCRYPTION_KEY = f"{new_key},{old_key}"
    token = encrypt_secret(PROVIDER_API_KEY)

    settings.FIELD_ENCRYPTION_KEY = new_key
    crypto._fernet.cache_clear()
    assert decrypt_secret(token) == PROVIDER_API_KEY
    settings.FIELD_ENCRYPTION_KEY = old_key
    crypto._fernet.cache_clear()
    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY"):
        decrypt_secret(token)


def test_it_cannot_decrypt_once_the_old_key_is_dropped(settings, fernet_cache, old_key, new_key):
    settings.FIELD_ENCRYPTION_KEY = old_key
    token = encrypt_secret(PROVIDER_API_KEY)

    settings.FIELD_ENCRYPTION_KEY = new_key
    crypto._fernet.cache_clear()

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY") as caught:
        decrypt_secret(token)
    assert new_key not in str(caught.value)


def test_it_stretches_a_passphrase_into_a_working_key(settings, fernet_cache):
    settings.FIELD_ENCRYPTION_KEY = "a long operator passphrase, not a Fernet key"
    token = encrypt_secret(PROVIDER_API_KEY)

    assert decrypt_secret(token) == PROVIDER_API_KEY
    settings.FIELD_ENCRYPTION_KEY = "another passphrase"
    crypto._fernet.cache_clear()
    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY"):
        decrypt_secret(token)
