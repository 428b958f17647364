"""``manage.py rotate_identity_key``: a new key signs agent identities from now on (SPEC 3.10)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from identity.identity_keys import RETIRED_KEY_PUBLISHED_SECONDS
from identity.selectors import identity_keyring_load
from identity.services import identity_key_rotate


class Command(BaseCommand):
    help = "Make a new agent identity key current; the previous one stays published for 24 hours."

    def handle(self, *args, **options) -> None:
        key = identity_key_rotate()
        published = [jwk["kid"] for jwk in identity_keyring_load().published]
        hours = RETIRED_KEY_PUBLISHED_SECONDS // 3600
        self.stdout.write(f"signing key: {key.kid}")
        self.stdout.write(f"published (retired keys for {hours} hours): {', '.join(published)}")
