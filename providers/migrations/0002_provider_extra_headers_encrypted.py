"""Provider extra header values, stored in clear until now, are encrypted (SPEC 5.5).

Reversible for the providers: backwards decrypts each value again (with the same
``FIELD_ENCRYPTION_KEY``). One-way for the event trail: the values copied into past
``provider.*`` events are replaced by ``"***"`` and cannot come back, by design.
"""

from django.db import migrations, models

from core.crypto import decrypt_secret, encrypt_secret

MASK = "***"


def values_encrypt(apps, schema_editor):
    provider_model = apps.get_model("proxy", "Provider")
    for provider in provider_model.objects.exclude(extra_headers_encrypted={}).only("id", "extra_headers_encrypted"):
        headers = provider.extra_headers_encrypted or {}
        provider.extra_headers_encrypted = {name: encrypt_secret(str(value)) for name, value in headers.items()}
        provider.save(update_fields=["extra_headers_encrypted"])


def values_decrypt(apps, schema_editor):
    provider_model = apps.get_model("proxy", "Provider")
    for provider in provider_model.objects.exclude(extra_headers_encrypted={}).only("id", "extra_headers_encrypted"):
        headers = provider.extra_headers_encrypted or {}
        provider.extra_headers_encrypted = {name: decrypt_secret(token) for name, token in headers.items()}
        provider.save(update_fields=["extra_headers_encrypted"])


def _masked(value):
    return {name: MASK for name in value} if isinstance(value, dict) else value


def events_mask(apps, schema_editor):
    event_model = apps.get_model("forensics", "Event")
    for event in event_model.objects.filter(object_type="provider").only("id", "changes"):
        change = (event.changes or {}).get("extra_headers")
        if not isinstance(change, dict):
            continue
        masked = {key: _masked(value) if key in ("before", "after") else value for key, value in change.items()}
        if masked != change:
            event.changes = {**event.changes, "extra_headers": masked}
            event.save(update_fields=["changes"])


class Migration(migrations.Migration):
    dependencies = [
        ("proxy", "0001_initial"),
        ("forensics", "0005_drop_duplicate_chain_index"),
    ]

    operations = [
        migrations.RenameField(model_name="provider", old_name="extra_headers", new_name="extra_headers_encrypted"),
        migrations.AlterField(
            model_name="provider",
            name="extra_headers_encrypted",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(values_encrypt, values_decrypt),
        migrations.RunPython(events_mask, migrations.RunPython.noop),
    ]
