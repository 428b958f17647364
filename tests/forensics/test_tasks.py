"""The forensic Celery tasks can be sent (their time limits agree with the global soft limit)."""

from __future__ import annotations

import pytest

from forensics.models import RequestLog
from forensics.tasks import audit_retention, audit_seal
from tests.forensics.test_chain import make_records


@pytest.mark.django_db(transaction=True)
def test_it_seals_through_the_task(tenant):
    make_records(tenant.id, 3)
    assert audit_seal.delay().get() == 3
    assert RequestLog.objects.filter(tenant_id=tenant.id, sealed_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_applies_retention_through_the_task(tenant):
    assert audit_retention.delay().get() == 0
