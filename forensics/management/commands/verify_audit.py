"""``manage.py verify_audit [--tenant ID] [--file EXPORT --public-key PEM]``.

Exits non-zero on a broken chain. With ``--file`` it verifies a JSONL export offline,
without any database: what a tenant hands to an auditor.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Verify tenants' audit chains (or an exported file) and exit non-zero if one is broken."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="only this tenant id")
        parser.add_argument("--file", help="verify this JSONL export instead of the database")
        parser.add_argument("--public-key", help="PEM file of the checkpoint-signing key (default: the export's)")

    def handle(self, *args, tenant: str | None, file: str | None, public_key: str | None, **options) -> None:
        if file:
            self._verify_file(Path(file), Path(public_key) if public_key else None)
            return
        from forensics.models import AuditChainHead
        from forensics.sealing import audit_chain_verify

        tenant_ids = [tenant] if tenant else list(AuditChainHead.objects.values_list("tenant_id", flat=True))
        broken = 0
        for tenant_id in tenant_ids:
            verdict = audit_chain_verify(tenant_id=tenant_id)
            self._report(tenant_id, verdict)
            broken += not verdict.valid
        if broken:
            raise CommandError(f"{broken} broken chain(s)")

    def _verify_file(self, path: Path, key_path: Path | None) -> None:
        from forensics.export import export_verify_file

        if not path.exists():
            raise CommandError(f"no such file: {path}")
        pem = key_path.read_text() if key_path else None
        try:
            with path.open(encoding="utf-8") as lines:
                tenant_id, verdict = export_verify_file(lines, pem)
        except (ValueError, KeyError) as exc:
            raise CommandError(f"cannot verify {path}: {exc}") from exc
        self._report(tenant_id, verdict)
        if not verdict.valid:
            raise CommandError("the export's chain is broken")

    def _report(self, tenant_id: str, verdict) -> None:
        if verdict.valid:
            self.stdout.write(f"{tenant_id}: valid, {verdict.checked} records checked")
        else:
            where = f" at {verdict.first_invalid}" if verdict.first_invalid else ""
            self.stdout.write(f"{tenant_id}: BROKEN{where}: {verdict.problem}")
