"""Settings from the environment (SPEC section 8): with DEBUG off the process refuses to start
while a secret is missing or a development default; the embedded default needs no environment.

Each case starts a fresh interpreter, since settings are read once at import. The cases run
side by side (one module-scoped batch) to keep the suite fast.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from config.settings.base import _DEV_SECRETS

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_NAMES = ["SECRET_KEY", "KEY_HASH_SECRET", "FIELD_ENCRYPTION_KEY", "AUDIT_SIGNING_KEY", "AGENT_IDENTITY_KEY"]


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


STRONG = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "KEY_HASH_SECRET": secrets.token_urlsafe(50),
    # Two keys, as during a rotation: a list is what production must accept.
    "FIELD_ENCRYPTION_KEY": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
    "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    "AGENT_IDENTITY_KEY": private_pem(ec.generate_private_key(ec.SECP256R1())),
}
SCRUBBED = {
    *SECRET_NAMES, "DEBUG", "DJANGO_SETTINGS_MODULE", "ALLOW_PRIVATE_UPSTREAMS", "SECURE_SSL_REDIRECT",
    "CONFIG_CACHE_SECONDS",
}  # fmt: skip
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(f'DEBUG={s.DEBUG} ALLOW_PRIVATE_UPSTREAMS={s.ALLOW_PRIVATE_UPSTREAMS} "
    'SESSION_COOKIE_SECURE={getattr(s, "SESSION_COOKIE_SECURE", None)} '
    "CONFIG_CACHE_SECONDS={s.CONFIG_CACHE_SECONDS}')"
)
PRODUCTION = "config.settings.production"
LOCAL = "config.settings.local"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def case(module: str, *, secrets_from: dict[str, str] | None = None, **env: str | None) -> tuple[str, dict]:
    """A settings module and the environment to start it with (``None`` removes a variable)."""
    return module, {**(STRONG if secrets_from is None else secrets_from), **env}


CASES: dict[str, tuple[str, dict]] = {
    "production strong": case(PRODUCTION),
    "production DEBUG=true without secrets": case(PRODUCTION, secrets_from={}, DEBUG="true"),
    "local embedded default": case(LOCAL, secrets_from={}),
    "local DEBUG=false without secrets": case(LOCAL, secrets_from={}, DEBUG="false"),
    "local DEBUG=false strong": case(LOCAL, DEBUG="false"),
    "production blank SECRET_KEY": case(PRODUCTION, SECRET_KEY="   "),
    "production dev key first in FIELD_ENCRYPTION_KEY": case(
        PRODUCTION, FIELD_ENCRYPTION_KEY=f"{_DEV_SECRETS['FIELD_ENCRYPTION_KEY']},{STRONG['FIELD_ENCRYPTION_KEY']}"
    ),
    "production dev key last in FIELD_ENCRYPTION_KEY": case(
        PRODUCTION, FIELD_ENCRYPTION_KEY=f"{STRONG['FIELD_ENCRYPTION_KEY']}, {_DEV_SECRETS['FIELD_ENCRYPTION_KEY']}"
    ),
    "production only commas in FIELD_ENCRYPTION_KEY": case(PRODUCTION, FIELD_ENCRYPTION_KEY=" , "),
    "production dev-insecure KEY_HASH_SECRET": case(PRODUCTION, KEY_HASH_SECRET="dev-insecure-but-long-0123456789"),
    "production identity key on one line": case(
        PRODUCTION, AGENT_IDENTITY_KEY=STRONG["AGENT_IDENTITY_KEY"].strip().replace("\n", "\\n")
    ),
    "production dev identity key on one line": case(
        PRODUCTION, AGENT_IDENTITY_KEY=_DEV_SECRETS["AGENT_IDENTITY_KEY"].strip().replace("\n", "\\n")
    ),
    "production RSA identity key": case(
        PRODUCTION, AGENT_IDENTITY_KEY=private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ),
    "production P-384 identity key": case(
        PRODUCTION, AGENT_IDENTITY_KEY=private_pem(ec.generate_private_key(ec.SECP384R1()))
    ),
    "production identity key not a PEM": case(PRODUCTION, AGENT_IDENTITY_KEY="not-a-key-but-long-enough-to-pass"),
}
# Started apart from CASES, by their own fixture: one batch of probes has to finish within a timeout.
CLUSTER_CASES: dict[str, tuple[str, dict]] = {
    "production Redis Cluster": case(PRODUCTION, REDIS_URL="redis+cluster://10.0.0.1:7000,10.0.0.2:7000"),
    "production Redis Cluster with a database": case(PRODUCTION, REDIS_URL="redis+cluster://10.0.0.1:7000/2"),
    "production Celery broker on a Redis Cluster": case(
        PRODUCTION, REDIS_URL="redis+cluster://10.0.0.1:7000", CELERY_BROKER_URL="redis+cluster://10.0.0.1:7000"
    ),
}
for _name in SECRET_NAMES:
    CASES[f"production missing {_name}"] = case(PRODUCTION, **{_name: None})
    CASES[f"production dev default {_name}"] = case(PRODUCTION, **{_name: _DEV_SECRETS[_name]})


def environment(module: str, overrides: dict[str, str | None]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env["DJANGO_SETTINGS_MODULE"] = module
    for name, value in overrides.items():
        if value is not None:
            env[name] = value
    return env


def probe_start(module: str, overrides: dict[str, str | None]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=environment(module, overrides),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def outcomes_of(cases: dict[str, tuple[str, dict]]) -> dict[str, Outcome]:
    running = {name: probe_start(module, overrides) for name, (module, overrides) in cases.items()}
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = Outcome(process.returncode, stdout, stderr)
    return results


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return outcomes_of(CASES)


@pytest.fixture(scope="module")
def cluster_outcomes() -> dict[str, Outcome]:
    return outcomes_of(CLUSTER_CASES)


def refused_naming(outcome: Outcome, name: str) -> bool:
    return (
        outcome.returncode != 0
        and "ImproperlyConfigured" in outcome.stderr
        and f"{name} must be set to a strong secret" in outcome.stderr
    )


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_it_refuses_to_start_in_production_without_the_secret(outcomes, name):
    assert refused_naming(outcomes[f"production missing {name}"], name)


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_it_refuses_to_start_in_production_with_the_development_default(outcomes, name):
    outcome = outcomes[f"production dev default {name}"]

    assert refused_naming(outcome, name)
    assert _DEV_SECRETS[name] not in outcome.stderr


def test_it_refuses_any_dev_insecure_value_in_production(outcomes):
    assert refused_naming(outcomes["production dev-insecure KEY_HASH_SECRET"], "KEY_HASH_SECRET")


def test_it_refuses_a_blank_secret_in_production(outcomes):
    assert refused_naming(outcomes["production blank SECRET_KEY"], "SECRET_KEY")


@pytest.mark.parametrize("position", ["first", "last"])
def test_it_refuses_the_development_encryption_key_anywhere_in_a_key_list(outcomes, position):
    assert refused_naming(outcomes[f"production dev key {position} in FIELD_ENCRYPTION_KEY"], "FIELD_ENCRYPTION_KEY")


def test_it_refuses_an_encryption_key_list_without_a_key(outcomes):
    assert refused_naming(outcomes["production only commas in FIELD_ENCRYPTION_KEY"], "FIELD_ENCRYPTION_KEY")


def test_it_reads_an_identity_key_written_on_one_line(outcomes):
    outcome = outcomes["production identity key on one line"]

    assert outcome.returncode == 0, outcome.stderr


def test_it_refuses_the_development_identity_key_on_one_line_too(outcomes):
    assert refused_naming(outcomes["production dev identity key on one line"], "AGENT_IDENTITY_KEY")


@pytest.mark.parametrize("kind", ["RSA", "P-384"])
def test_it_refuses_an_identity_key_that_cannot_sign_es256(outcomes, kind):
    outcome = outcomes[f"production {kind} identity key"]

    assert outcome.returncode != 0
    assert "AGENT_IDENTITY_KEY must be a P-256 (ES256) private key" in outcome.stderr


def test_it_refuses_an_identity_key_that_is_not_a_pem(outcomes):
    outcome = outcomes["production identity key not a PEM"]

    assert outcome.returncode != 0
    assert "AGENT_IDENTITY_KEY must be an unencrypted PEM private key" in outcome.stderr
    assert "not-a-key-but-long-enough-to-pass" not in outcome.stderr


def test_it_starts_in_production_with_strong_secrets_and_a_key_list(outcomes):
    outcome = outcomes["production strong"]

    assert outcome.returncode == 0, outcome.stderr
    assert "DEBUG=False ALLOW_PRIVATE_UPSTREAMS=False SESSION_COOKIE_SECURE=True" in outcome.stdout


def test_it_leaves_a_change_most_of_the_specs_second_to_load_after_its_generation_read(outcomes):
    # A process reads a tenant's generation at most this often; the rest of the second is the
    # snapshot's load on a busy process (docs/decisions.md, "A quarter of a second").
    assert "CONFIG_CACHE_SECONDS=0.25" in outcomes["production strong"].stdout


def test_it_keeps_debug_off_in_production_whatever_the_environment_says(outcomes):
    assert refused_naming(outcomes["production DEBUG=true without secrets"], "SECRET_KEY")


def test_it_starts_the_embedded_default_with_no_environment(outcomes):
    outcome = outcomes["local embedded default"]

    assert outcome.returncode == 0, outcome.stderr
    assert "DEBUG=True ALLOW_PRIVATE_UPSTREAMS=True" in outcome.stdout


def test_it_refuses_development_secrets_in_local_settings_with_debug_off(outcomes):
    assert refused_naming(outcomes["local DEBUG=false without secrets"], "SECRET_KEY")


def test_it_starts_local_settings_with_debug_off_and_strong_secrets(outcomes):
    outcome = outcomes["local DEBUG=false strong"]

    assert outcome.returncode == 0, outcome.stderr
    assert "DEBUG=False ALLOW_PRIVATE_UPSTREAMS=False" in outcome.stdout


# Every entry point, started with no DJANGO_SETTINGS_MODULE: what it prints names its settings.
SHOW = "from django.conf import settings as s; print(s.SETTINGS_MODULE)"
ENTRY_POINTS = {
    "manage.py": [sys.executable, "manage.py", "shell", "-c", SHOW],
    "asgi": [sys.executable, "-c", f"import config.asgi; {SHOW}"],
    "wsgi": [sys.executable, "-c", f"import config.wsgi; {SHOW}"],
    # Celery reads Django's settings through the app's configuration, as its worker does.
    "celery": [sys.executable, "-c", f"from config.celery import app; app.conf.broker_url; {SHOW}"],
}


def entry_point_run(argv: list[str], **overrides: str | None) -> Outcome:
    env = environment(PRODUCTION, {})
    del env["DJANGO_SETTINGS_MODULE"]
    env.update({k: v for k, v in overrides.items() if v is not None})
    done = subprocess.run(argv, cwd=BASE_DIR, env=env, text=True, capture_output=True, timeout=120, check=False)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_it_starts_every_entry_point_in_production_unless_debug_is_true(entry):
    refused = entry_point_run(ENTRY_POINTS[entry])
    assert refused_naming(refused, "SECRET_KEY"), refused.stderr[-2000:]
    production = entry_point_run(ENTRY_POINTS[entry], **STRONG, ALLOWED_HOSTS="gw.example.com")
    assert production.stdout.strip().splitlines()[-1] == PRODUCTION, production.stderr[-2000:]
    local = entry_point_run(ENTRY_POINTS[entry], DEBUG="true")
    assert local.stdout.strip().splitlines()[-1] == LOCAL, local.stderr[-2000:]


def test_it_passes_djangos_deployment_checks_in_production():
    outcome = entry_point_run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **STRONG,
        ALLOWED_HOSTS="gw.example.com",
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "System check identified no issues" in outcome.stdout


def test_it_starts_with_a_redis_cluster_url(cluster_outcomes):
    outcome = cluster_outcomes["production Redis Cluster"]

    assert outcome.returncode == 0, outcome.stderr


def test_it_refuses_a_redis_cluster_url_naming_a_database(cluster_outcomes):
    outcome = cluster_outcomes["production Redis Cluster with a database"]

    assert outcome.returncode != 0
    assert "REDIS_URL: a Redis Cluster has only database 0" in outcome.stderr


def test_it_refuses_a_celery_broker_on_a_redis_cluster(cluster_outcomes):
    outcome = cluster_outcomes["production Celery broker on a Redis Cluster"]

    assert outcome.returncode != 0
    assert "CELERY_BROKER_URL and CELERY_RESULT_BACKEND cannot be a Redis Cluster" in outcome.stderr
