"""``manage.py verify_audit [--tenant ID] [--file EXPORT --public-key PEM [--trust-embedded-key]]``.

Exits non-zero on a broken chain. With ``--file`` it verifies a JSONL export offline,
without any database: what a tenant hands to an auditor. Offline it trusts only the key it
is given (SPEC 6): the export's own key proves nothing about who wrote the file, so using it
takes ``--trust-embedded-key``, and the result says so.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from forensics.export import export_verify_file
from forensics.models import AuditChainHead
from forensics.sealing import audit_chain_verify


class Command(BaseCommand):
    help = "Verify tenants' audit chains (or an exported file) and exit non-zero if one is broken."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="only this tenant id")
        parser.add_argument("--file", help="verify this JSONL export instead of the database")
        parser.add_argument("--public-key", help="PEM file of the checkpoint-signing key to trust")
        parser.add_argument(
            "--trust-embedded-key",
            action="store_true",
            help="without --public-key, accept the key written in the export itself (it proves nothing of its origin)",
        )

    def handle(
        self, *args, tenant: str | None, file: str | None, public_key: str | None, trust_embedded_key: bool, **options
    ) -> None:
        if file:
            self._verify_file(Path(file), Path(public_key) if public_key else None, trust_embedded_key)
            return
        tenant_ids = [tenant] if tenant else list(AuditChainHead.objects.values_list("tenant_id", flat=True))
        broken = 0
        for tenant_id in tenant_ids:
            verdict = audit_chain_verify(tenant_id=tenant_id)
            self._report(tenant_id, verdict)
            broken += not verdict.valid
        if broken:
            raise CommandError(f"{broken} broken chain(s)")

    def _verify_file(self, path: Path, key_path: Path | None, trust_embedded_key: bool) -> None:
        if not path.exists():
            raise CommandError(f"no such file: {path}")
        pem = key_path.read_text() if key_path else None

        def lines():
            with path.open(encoding="utf-8") as handle:
                yield from handle

        try:
            result = export_verify_file(lines, pem)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CommandError(f"cannot verify {path}: {exc}") from exc
        self._report(result.tenant_id, result.verdict)
        if not result.verdict.valid:
            raise CommandError("the export's chain is broken")
        if result.embedded_key:
            self.stdout.write("the signing key came from the export itself, not from --public-key")
            if not trust_embedded_key:
                raise CommandError(
                    "not verified against a key you trust: pass --public-key (from GET /v1/audit/public-key) "
                    "or --trust-embedded-key"
                )

    def _report(self, tenant_id: str, verdict) -> None:
        if verdict.valid:
            self.stdout.write(f"{tenant_id}: valid, {verdict.checked} records checked")
            if verdict.unsigned:
                self.stdout.write(
                    f"{tenant_id}: {verdict.unsigned} records past the last signed checkpoint are unsigned "
                    "(hash-linked, not yet covered by a signature)"
                )
        else:
            where = f" at {verdict.first_invalid}" if verdict.first_invalid else ""
            self.stdout.write(f"{tenant_id}: BROKEN{where}: {verdict.problem}")
