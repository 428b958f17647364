"""Console messages kept server-side and encrypted until shown.

A new key's secret is announced through Django's messages (``secret_announce``). The default
storage puts messages in a cookie that is signed, not encrypted: the secret would cross the
network a second time and sit in the browser's cookie jar. Here they wait in the session
(database-side), encrypted with ``FIELD_ENCRYPTION_KEY`` like every stored secret, and are
removed from it once displayed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.messages.storage.session import SessionStorage
from django.http import HttpRequest
from django.utils.html import format_html

from core.crypto import decrypt_secret, encrypt_secret

SECRET_MESSAGE_TAG = "secret"  # noqa: S105 (a CSS class, not a secret)


class EncryptedSessionStorage(SessionStorage):
    def serialize_messages(self, messages: list[Any]) -> str:
        return encrypt_secret(super().serialize_messages(messages))

    def deserialize_messages(self, data: Any) -> Any:
        if not data or not isinstance(data, str):
            return data
        try:
            plain = decrypt_secret(data)
        except ValueError:
            # Written under a retired key: the messages are lost, never shown garbled.
            return []
        return super().deserialize_messages(plain)


def secret_announce(request: HttpRequest, *, label: str, secret: str) -> None:
    """Show a new secret on the next page, once.

    Messages are consumed when displayed, so reloading or reopening any page never shows
    the secret again; the server keeps only the digest. Until then the message waits in the
    session, encrypted (``core.secret_messages``), never in a cookie.
    """
    messages.warning(
        request,
        format_html(
            "{}: <code class='aidgate-secret'>{}</code> Copy it now, it will not be shown again.",
            label,
            secret,
        ),
        extra_tags=SECRET_MESSAGE_TAG,
    )
