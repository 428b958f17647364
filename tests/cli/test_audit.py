"""``aidgate audit …``: the gateway's own check, and an export verified offline by the
client package's verifier, which must agree with the gateway's (``forensics.export``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidgate.audit import export_verify
from forensics.export import export_verify_file
from forensics.sealing import tenant_chain_seal
from tests.cli.support import aidgate_run


def sealed_export(org, batches: tuple[int, ...] = (3,), unsealed: int = 0) -> Path:
    """An export of ``batches`` sealed one after the other (a checkpoint each), then
    ``unsealed`` records left out of the chain; written by the command itself."""
    for count in batches:
        org.traffic(count)
        tenant_chain_seal(tenant_id=org.id)
    if unsealed:
        org.traffic(unsealed)
    assert org.run("logs", "export", "-o", "export.jsonl").code == 0
    return org.cwd / "export.jsonl"


def public_key(org) -> Path:
    result = org.run("audit", "public-key")
    assert result.code == 0, result
    (org.cwd / "key.pem").write_text(result.stdout)
    return org.cwd / "key.pem"


def test_it_asks_the_gateway_to_verify_the_chain(org):
    sealed_export(org)
    verdict = org.ok("audit", "verify")
    assert (verdict["valid"], verdict["checked"], verdict["first_invalid"]) == (True, 3, None)
    assert "valid, 3 records checked" in org.run("audit", "verify").stdout


def test_it_verifies_an_export_offline_with_a_trusted_key(org):
    sealed_export(org)
    result = org.run("audit", "verify", "--file", "export.jsonl", "--public-key", str(public_key(org)))
    assert result.code == 0, result
    assert f"{org.id}: valid, 3 records checked" in result.stdout


def test_it_needs_no_gateway_to_verify_offline(org):
    sealed_export(org)
    key = public_key(org)
    result = aidgate_run("audit", "verify", "--file", "export.jsonl", "--public-key", str(key), url=None, key=None,
                         cwd=org.cwd)  # fmt: skip
    assert result.code == 0, result


def test_it_refuses_the_exports_own_key_unless_trusted(org):
    sealed_export(org)
    result = org.run("audit", "verify", "--file", "export.jsonl")
    assert result.code == 1
    assert "came from the export itself" in result.stdout
    assert "not verified against a key you trust" in result.stderr
    assert org.run("audit", "verify", "--file", "export.jsonl", "--trust-embedded-key").code == 0


def test_it_reports_a_changed_record_and_exits_1(org):
    path = sealed_export(org)
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["status_code"] = 500
    lines[2] = json.dumps(record, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    result = org.run("audit", "verify", "--file", "export.jsonl", "--public-key", str(public_key(org)), "--json")
    assert result.code == 1
    verdict = result.json()
    assert (verdict["valid"], verdict["first_invalid"]) == (False, record["id"])


def test_it_reports_an_export_signed_by_another_key(org):
    sealed_export(org)
    other = Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (org.cwd / "other.pem").write_bytes(pem)
    result = org.run("audit", "verify", "--file", "export.jsonl", "--public-key", "other.pem")
    assert result.code == 1
    assert "invalid signature" in result.stdout


def test_it_exits_2_on_a_file_that_is_no_export(org):
    (org.cwd / "notes.txt").write_text("hello\n")
    result = org.run("audit", "verify", "--file", "notes.txt", "--trust-embedded-key")
    assert result.code == 2
    assert "cannot verify notes.txt" in result.stderr
    assert org.run("audit", "verify", "--file", "missing.jsonl").code == 2


def _edit(change: Callable[[list[dict]], list[dict]]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        items = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(i, separators=(",", ":")) + "\n" for i in change(items)))

    return apply


def _records(items: list[dict]) -> list[int]:
    return [n for n, item in enumerate(items) if item["type"] == "record"]


def _without(items: list[dict], index: int) -> list[dict]:
    return items[:index] + items[index + 1 :]


def _swapped(items: list[dict], a: int, b: int) -> list[dict]:
    items = list(items)
    items[a], items[b] = items[b], items[a]
    return items


def _changed(items: list[dict], index: int, **fields) -> list[dict]:
    return [item | fields if n == index else item for n, item in enumerate(items)]


def _checkpoints(items: list[dict]) -> list[int]:
    return [n for n, item in enumerate(items) if item["type"] == "checkpoint"]


TAMPERINGS = {
    "untouched": lambda items: items,
    "record changed": lambda items: _changed(items, _records(items)[1], user="mallory@example.com"),
    "record removed": lambda items: _without(items, _records(items)[1]),
    "last record removed": lambda items: _without(items, _records(items)[4]),
    "records swapped": lambda items: _swapped(items, _records(items)[0], _records(items)[1]),
    "first checkpoint removed": lambda items: _without(items, _checkpoints(items)[0]),
    "last checkpoint removed": lambda items: _without(items, _checkpoints(items)[-1]),
    "checkpoint forged": lambda items: _changed(items, _checkpoints(items)[0], records=1),
    "every checkpoint removed": lambda items: [i for i in items if i["type"] != "checkpoint"],
    "record added": lambda items: [*items[:3], items[2] | {"id": "req_forged000000000"}, *items[3:]],
}


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=str)
def test_it_agrees_with_the_gateways_own_verifier(org, tampering):
    path = sealed_export(org, batches=(2, 3), unsealed=1)
    _edit(TAMPERINGS[tampering])(path)
    pem = json.loads(path.read_text().splitlines()[0])["public_key"]
    ours = export_verify(path, pem)
    theirs = export_verify_file(lambda: path.open(encoding="utf-8"), pem).verdict
    assert (ours.valid, ours.first_invalid, ours.checked, ours.unsigned) == (
        theirs.valid, theirs.first_invalid, theirs.checked, theirs.unsigned)  # fmt: skip
    if tampering == "last checkpoint removed":
        # Without its last checkpoint the tail reads as records sealed but not signed yet: both
        # verifiers count them as unsigned rather than hiding them (docs/forensics.md → Offline).
        assert (ours.valid, ours.unsigned) == (True, 3)
    else:
        assert ours.valid == (tampering == "untouched"), ours
