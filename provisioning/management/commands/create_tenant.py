"""``manage.py create_tenant NAME [--admin-email E]``: a tenant and its first org key."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.validation import is_email
from provisioning.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant and print its first admin org key (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--admin-email", default=None, help="also create a console admin with this email")

    def handle(self, *args, name: str, admin_email: str | None, **options) -> None:
        if admin_email and not is_email(admin_email):
            raise CommandError(f"{admin_email!r} is not an email address")
        try:
            tenant, _, secret = tenant_create(name=name, admin_email=admin_email)
        except ValidationError as exc:
            raise CommandError(f"invalid tenant: {exc}") from exc
        self.stdout.write(f"tenant:  {tenant.id} ({tenant.name})")
        self.stdout.write(f"org key: {secret}")
        self.stdout.write("         (shown once: store it now; only its digest is kept)")
        if admin_email:
            self.stdout.write(
                f"console: {admin_email} can sign in at /admin/ after `manage.py changepassword {admin_email}`"
            )
