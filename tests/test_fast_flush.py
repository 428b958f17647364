"""The end of a transactional test (tests/support/fast_flush.py) leaves the database as Django's
flush does: every table empty, sealed records and checkpoints included, the content types and
permissions as ``post_migrate`` writes them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from forensics.models import AuditCheckpoint, RequestLog
from forensics.sealing import audit_seal_all
from tests import factories
from tests.forensics.support import make_logs
from tests.support import fast_flush
from tests.support.requirements import needs_postgresql

pytestmark = [needs_postgresql, pytest.mark.django_db(transaction=True)]


def _counts() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def test_it_empties_every_table_a_test_wrote_sealed_records_and_checkpoints_too():
    fast_flush.database_flush("default")
    after_flush = _counts()
    tenant = factories.make_tenant("Flushed Org")
    factories.make_key(factories.make_agent(tenant))
    factories.make_console_user(tenant)
    make_logs(tenant.id, 3)
    audit_seal_all()
    assert RequestLog.objects.filter(sealed_at__isnull=False).count() == 3
    assert AuditCheckpoint.objects.exists()

    assert fast_flush.database_empty("default") is True

    assert _counts() == after_flush
    assert {table for table, n in after_flush.items() if n} == {"django_content_type", "auth_permission"}


def test_it_leaves_a_changed_permission_table_to_djangos_flush():
    fast_flush.database_flush("default")
    after_flush = _counts()
    Permission.objects.create(
        codename="extra", name="Extra", content_type=ContentType.objects.get_for_model(RequestLog)
    )
    factories.make_tenant("Flushed Org")

    assert fast_flush.database_empty("default") is False

    fast_flush.database_flush("default")
    assert _counts() == after_flush
