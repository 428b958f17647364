"""Removes the price rows every tenant was seeded with and never changed.

They were copies of a hand-written list (no gpt-5, no cached-input price) and, being the
tenant's own rows, they would now win over the published list prices (``providers.pricing``)
for good. A row is removed only while pattern, input and output all still equal its seed and
it has no cached-input price and no event names it (every write through the API or the
console records one; seeding recorded none). Irreversible by design: the seeds are gone from
the code, and a tenant that wants a fixed price writes its own row.
"""

from decimal import Decimal

from django.db import migrations

SEEDED = [
    ("gpt-4o-mini*", "0.15", "0.60"),
    ("gpt-4o*", "2.50", "10.00"),
    ("gpt-4.1-mini*", "0.40", "1.60"),
    ("gpt-4.1-nano*", "0.10", "0.40"),
    ("gpt-4.1*", "2.00", "8.00"),
    ("o3-mini*", "1.10", "4.40"),
    ("o4-mini*", "1.10", "4.40"),
    ("o3*", "2.00", "8.00"),
    ("text-embedding-3-small", "0.02", "0"),
    ("text-embedding-3-large", "0.13", "0"),
    ("claude-3-5-haiku*", "0.80", "4.00"),
    ("claude-haiku-4*", "1.00", "5.00"),
    ("claude-sonnet-4*", "3.00", "15.00"),
    ("claude-3-7-sonnet*", "3.00", "15.00"),
    ("claude-opus-4*", "15.00", "75.00"),
    ("gemini-2.5-flash*", "0.30", "2.50"),
    ("gemini-2.5-pro*", "1.25", "10.00"),
    ("gemini-2.0-flash*", "0.10", "0.40"),
    ("command-r-plus*", "2.50", "10.00"),
    ("command-r*", "0.15", "0.60"),
    ("command-a*", "2.50", "10.00"),
    ("mistral-large*", "2.00", "6.00"),
    ("mistral-small*", "0.10", "0.30"),
    ("codestral*", "0.30", "0.90"),
    ("mock-*", "0", "0"),
]


def drop_unedited_seeds(apps, schema_editor):
    ModelPrice = apps.get_model("proxy", "ModelPrice")
    Event = apps.get_model("forensics", "Event")
    written = set(Event.objects.filter(object_type="model_price").values_list("object_id", flat=True))
    for pattern, input_price, output_price in SEEDED:
        rows = ModelPrice.objects.filter(
            model_pattern=pattern,
            input_per_million_usd=Decimal(input_price),
            output_per_million_usd=Decimal(output_price),
            cached_input_per_million_usd__isnull=True,
        )
        ModelPrice.objects.filter(
            pk__in=[pk for pk in rows.values_list("pk", flat=True) if str(pk) not in written]
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("proxy", "0003_model_price_cached_input"), ("forensics", "0006_log_endpoint_index")]

    operations = [migrations.RunPython(drop_unedited_seeds, migrations.RunPython.noop)]
