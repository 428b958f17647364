"""``manage.py demo``: seed a demo tenant that works offline, and print how to call it.

Safe to run again: the tenant, app, agent, provider and alias are reused, and fresh demo
keys replace the previous ones (their secrets were shown once and cannot be printed again).

``--history`` also writes a week of synthetic traffic (provisioning/demo_history.py) and a
"Demo limits" policy, but only in the run that creates the demo tenant: a second run would
put a second week on top of the first, and would do so in a chain real requests may have
extended since.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.models import App
from apps.services import app_create, policy_create
from core.actors import SYSTEM
from identity.models import Agent, AgentStatus
from identity.services import agent_create, agent_update
from keys.models import Key, OrgKey
from keys.services import key_create, key_revoke, org_key_create, org_key_revoke
from providers.models import Alias, Provider
from providers.services import alias_create, provider_create
from provisioning.demo_history import demo_history_create
from provisioning.services import tenant_create
from tenants.models import Membership, Tenant

DEMO_TENANT = "Demo"
DEMO_SLUG = "demo"
DEMO_KEY_NAME = "demo key"


class Command(BaseCommand):
    help = "Seed (or refresh) the demo tenant and print its keys and a ready curl line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--history",
            action="store_true",
            help="when this run creates the demo tenant, also write a week of synthetic traffic (sealed, rolled up)",
        )

    @transaction.atomic
    def handle(self, *args, port: int, host: str, history: bool = False, **options) -> None:
        tenant = Tenant.objects.filter(name=DEMO_TENANT).order_by("created_at").first()
        created = tenant is None
        if tenant is None:
            tenant, _, _ = tenant_create(name=DEMO_TENANT)
        app = App.objects.filter(slug=DEMO_SLUG, tenant=tenant).first() or app_create(
            tenant_id=tenant.id, actor=SYSTEM, name="Demo app", slug=DEMO_SLUG, is_default=True,
            identity_header_mode=True,
        )  # fmt: skip
        agent = Agent.objects.for_tenant(tenant.id).filter(name="demo-agent", deleted_at=None).first()
        if agent is None:
            agent = agent_create(
                tenant_id=tenant.id, actor=SYSTEM, name="demo-agent", app=app, owner_email="owner@example.com",
                description="The agent behind the demo key",
            )  # fmt: skip
        elif agent.status != AgentStatus.ACTIVE:
            # The key printed below must work: a demo agent someone suspended is reactivated.
            agent = agent_update(agent=agent, actor=SYSTEM, data={"status": AgentStatus.ACTIVE})
        provider = Provider.objects.for_tenant(tenant.id).filter(kind="mock").first()
        if provider is None:
            provider = provider_create(tenant_id=tenant.id, actor=SYSTEM, name="mock", kind="mock", models=["mock-*"])
        if not Alias.objects.for_tenant(tenant.id).filter(alias="smart-default").exists():
            alias_create(
                tenant_id=tenant.id, actor=SYSTEM, alias="smart-default",
                targets=[{"provider_id": provider.id, "model": "mock-1"}],
            )  # fmt: skip

        # Fresh secrets each run: create the new ones first so the tenant never lacks an admin.
        # "Not revoked yet" includes a key whose rotation grace period is still running.
        now = timezone.now()
        old_org_keys = list(
            OrgKey.objects.for_tenant(tenant.id).filter(name=DEMO_KEY_NAME).exclude(revoked_at__lte=now)
        )
        _, org_secret = org_key_create(tenant_id=tenant.id, actor=SYSTEM, name=DEMO_KEY_NAME)
        for old in old_org_keys:
            org_key_revoke(org_key=old, actor=SYSTEM)
        for old in Key.objects.for_tenant(tenant.id).filter(name=DEMO_KEY_NAME).exclude(revoked_at__lte=now):
            key_revoke(key=old, actor=SYSTEM)
        key, agent_secret = key_create(agent=agent, actor=SYSTEM, name=DEMO_KEY_NAME)
        history_line = None
        if history and created:
            policy = policy_create(
                tenant_id=tenant.id, actor=SYSTEM, name="Demo limits", tenant_wide=True, requests_per_minute=600,
                daily_token_budget=2_000_000, monthly_token_budget=40_000_000, user_daily_token_budget=400_000,
            )  # fmt: skip
            written = demo_history_create(
                tenant_id=tenant.id, app_id=app.id, agent_id=agent.id, key_id=key.id, provider_id=provider.id,
                policy_ids=[policy.id], now=timezone.now(),
            )  # fmt: skip
            history_line = f"  history    {written.records:,} synthetic requests over 7 days, sealed into the chain"
        elif history:
            history_line = "  history    skipped: the demo tenant already existed (it is written only once)"

        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS(f"aidgate demo ready at {base}"))
        self.stdout.write(f"  tenant     {tenant.id}   app {app.slug} ({app.id})   agent {agent.id}")
        if history_line:
            self.stdout.write(history_line)
        self.stdout.write(f"  org key    {org_secret}")
        self.stdout.write(f"  agent key  {agent_secret}")
        if settings.DEBUG:
            password = self._console_admin(tenant)
            self.stdout.write(f"  console    {base}/admin/  user demo-admin  password {password}")
        self.stdout.write(f"  API docs   {base}/api/docs")
        self.stdout.write("  try:")
        self.stdout.write(
            f"  curl {base}/v1/chat/completions -H 'Authorization: Bearer {agent_secret}' "
            "-H 'Content-Type: application/json' -H 'X-User-Email: alice@example.com' "
            """-d '{"model": "smart-default", "messages": [{"role": "user", "content": "Hello"}]}'"""
        )

    def _console_admin(self, tenant: Tenant) -> str:
        """A platform superuser for the laptop demo only (DEBUG); a new password each run."""
        user, _ = get_user_model().objects.get_or_create(
            username="demo-admin",
            defaults={"email": "demo-admin@example.com", "is_staff": True, "is_superuser": True},
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        Membership.objects.filter(user=user).exclude(tenant=tenant).delete()
        return password
