"""Settings shared by every environment, read from the environment only (SPEC section 8).

With no environment at all this gives the embedded default: SQLite, in-process counters
and cache, Celery tasks inline, DEBUG on with development-only secrets. With DEBUG off the
process refuses to start while any secret is empty or still a development default.
"""

from __future__ import annotations

from pathlib import Path

import environ
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from core.redis_clients import RedisUrlError, cluster_url_parse, is_cluster_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)

# Development-only secrets: usable with DEBUG on, refused with DEBUG off.
_DEV_SECRET_MARK = "dev-insecure"
_DEV_SECRETS = {
    "SECRET_KEY": "dev-insecure-django-secret-key-do-not-use-in-production",
    "KEY_HASH_SECRET": "dev-insecure-key-hash-secret-do-not-use-in-production",
    # A valid Fernet key, but a published one: fine for a laptop, refused in production.
    "FIELD_ENCRYPTION_KEY": "ZGV2LWluc2VjdXJlLWZpZWxkLWVuY3J5cHRpb24ta2U=",
    # Raw 32-byte Ed25519 seed, base64; published, so refused in production.
    "AUDIT_SIGNING_KEY": "ZGV2LWluc2VjdXJlLWF1ZGl0LXNpZ25pbmcta2V5ISE=",
    # A P-256 private key in PEM, published here, so refused in production (SPEC 3.10).
    "AGENT_IDENTITY_KEY": """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgf1PNmX4MGQyV1U/S
0WQhiJiCGC4KJ3na7OYlQQXuT1WhRANCAASu8VM/MJOEPjcFkssi5C2KRa3rgTmw
mIILwZ3Necl0CmWeIxO3CpX6r4cQlWlbNgzEe0kC4Lp9/j5dbhkXFSJH
-----END PRIVATE KEY-----
""",
}


def _is_dev_secret(name: str, value: str) -> bool:
    if name == "AGENT_IDENTITY_KEY":
        # A PEM's line breaks and surrounding blanks are not part of the key.
        return "".join(value.split()) == "".join(_DEV_SECRETS[name].split()) or _DEV_SECRET_MARK in value
    # FIELD_ENCRYPTION_KEY is a comma-separated list whose first key encrypts: a published key
    # anywhere in it would let a production deployment encrypt or decrypt under a known key.
    parts = [p.strip() for p in value.split(",")] if name == "FIELD_ENCRYPTION_KEY" else [value.strip()]
    return any(p == _DEV_SECRETS[name] or p.startswith(_DEV_SECRET_MARK) for p in parts)


def _is_empty_secret(name: str, value: str) -> bool:
    if name == "FIELD_ENCRYPTION_KEY":
        return not any(p.strip() for p in value.split(","))
    return not value.strip()


def secret_setting(name: str) -> str:
    """Read a secret; with DEBUG off, refuse empty or development values by name."""
    # A PEM in one line of an env file carries its line breaks as "\\n".
    value = env.str(name, default="").replace("\\n", "\n")
    if not DEBUG:
        empty = _is_empty_secret(name, value)
        if empty or _is_dev_secret(name, value):
            raise ImproperlyConfigured(
                f"{name} must be set to a strong secret when DEBUG is off "
                f"(it is {'empty' if empty else 'a development default'})."
            )
        return value
    return value or _DEV_SECRETS[name]


SECRET_KEY = secret_setting("SECRET_KEY")
KEY_HASH_SECRET = secret_setting("KEY_HASH_SECRET")
FIELD_ENCRYPTION_KEY = secret_setting("FIELD_ENCRYPTION_KEY")
AUDIT_SIGNING_KEY = secret_setting("AUDIT_SIGNING_KEY")


def _identity_key_checked(pem: str) -> str:
    """The agent identity key must be a P-256 private key: refused by name at start, not on the
    first proxied request."""
    try:
        key = load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("AGENT_IDENTITY_KEY must be an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ImproperlyConfigured("AGENT_IDENTITY_KEY must be a P-256 (ES256) private key")
    return pem.strip() + "\n"


# SPEC 3.10: the key that signs X-Agent-Identity until `manage.py rotate_identity_key` stores others.
AGENT_IDENTITY_KEY = _identity_key_checked(secret_setting("AGENT_IDENTITY_KEY"))
# The tokens' `iss`; empty = the base URL the request reached the gateway at (docs/identity.md).
AGENT_IDENTITY_ISSUER: str = env.str("AGENT_IDENTITY_ISSUER", default="").rstrip("/")

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with the console's site (its gate is tenants.access).
    "console.admin_config.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: the console's runserver (which refuses, pointing at `make run`)
    # must win over staticfiles' own.
    "console",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "tenants",
    "apps",
    "identity",
    "keys",
    "providers",
    "provisioning",
    "proxy",
    "forensics",
    "analytics",
]

MIDDLEWARE = [
    "core.log_middleware.request_logging_middleware",  # first: every line names its request
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Django's own requests run under ASGI on a new thread each (asgiref gives every request its
# own thread-sensitive executor), so a per-thread persistent connection is never reused, and
# connecting was a large part of every management API call (docs/performance.md → Decisions,
# the PostgreSQL pool). On PostgreSQL Django's side therefore borrows from a psycopg pool per
# process (returned when the request ends); each borrowed connection is checked first, so one
# broken by a database restart is replaced rather than failing a request. DATABASE_POOL=false
# connects per request instead.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_POOL", default=True):
    from psycopg_pool import ConnectionPool

    DATABASES["default"]["CONN_MAX_AGE"] = 0  # pooling replaces persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        "check": ConnectionPool.check_connection,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the gateway's record writer and the console read and write side by side.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One node (redis://, rediss://, unix://) or a Redis Cluster (redis+cluster://host:port,host:port).
REDIS_URL: str = env.str("REDIS_URL", default="")
# Connections per gateway process to Redis (counters, configuration generations); per node on a cluster.
REDIS_MAX_CONNECTIONS: int = env.int("REDIS_MAX_CONNECTIONS", default=512)
if REDIS_URL and is_cluster_url(REDIS_URL):
    try:
        cluster_url_parse(REDIS_URL)
    except RedisUrlError as exc:
        raise ImproperlyConfigured(f"REDIS_URL: {exc}") from None
    CACHES = {"default": {"BACKEND": "core.cluster_cache.RedisClusterCache", "LOCATION": REDIS_URL}}
elif REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="")
if is_cluster_url(CELERY_BROKER_URL) or is_cluster_url(env.str("CELERY_RESULT_BACKEND", default="")):
    # Celery's Redis transport (kombu) speaks to one node only (docs/decisions.md).
    raise ImproperlyConfigured("CELERY_BROKER_URL and CELERY_RESULT_BACKEND cannot be a Redis Cluster: use one node")
CELERY_RESULT_BACKEND: str | None = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/admin/login/"

# --- Console security: headers, cookies, CSRF, sign-in throttling (docs/security.md) ---
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Messages wait in the session, encrypted: a new key's secret never rides a cookie.
MESSAGE_STORAGE = "core.secret_messages.EncryptedSessionStorage"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Scripts only from the gateway, inline ones only with the per-response nonce ({% csp_nonce_attr %});
# inline styles stay allowed for the console's own <style> blocks. The API docs pages set their
# own, looser policy (core/api/docs.py), which this middleware leaves in place.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
LOGIN_FAILURES_PER_USER_AND_ADDRESS: int = env.int("LOGIN_FAILURES_PER_USER_AND_ADDRESS", default=5)
LOGIN_FAILURES_PER_ADDRESS: int = env.int("LOGIN_FAILURES_PER_ADDRESS", default=50)
LOGIN_FAILURE_WINDOW_SECONDS: int = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)

# --- Gateway settings (SPEC section 8) ---
MAX_REQUEST_BYTES: int = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
# Records a client without a credential may add to a tenant's log, per app and minute.
UNAUTHENTICATED_RECORDS_PER_MINUTE: int = env.int("UNAUTHENTICATED_RECORDS_PER_MINUTE", default=30)
# The same limit on the Django side (management API, console), SPEC 4; config.django_bodies
# applies it before Django reads a body, this setting to whatever reaches Django otherwise.
DATA_UPLOAD_MAX_MEMORY_SIZE: int = MAX_REQUEST_BYTES
ALLOW_PRIVATE_UPSTREAMS: bool = env.bool("ALLOW_PRIVATE_UPSTREAMS", default=DEBUG)
# How long a gateway process trusts its in-process copy of configuration before asking Redis
# whether anything changed: the SPEC allows one second of lag for revocations and edits, and a
# change also waits for the tenant's snapshot to load on a busy process (docs/decisions.md).
CONFIG_CACHE_SECONDS: float = env.float("CONFIG_CACHE_SECONDS", default=0.25)
# How many tenants' configuration a gateway process keeps; past it the least recently used
# tenant is dropped and read again on its next request (docs/performance.md: memory at scale).
CONFIG_CACHE_MAX_TENANTS: int = env.int("CONFIG_CACHE_MAX_TENANTS", default=10_000)
# The database fallback for configuration changes Redis did not carry (one query a second).
CONFIG_POLL_SECONDS: float = env.float("CONFIG_POLL_SECONDS", default=1.0)
# While Redis answers, that query reads this many cached tenants in turn (a change whose
# publication was lost arrives within cached / slice polls); while it does not, every one.
CONFIG_POLL_SLICE: int = env.int("CONFIG_POLL_SLICE", default=1_000)
KEY_DEFAULT_LIFETIME_DAYS = 90
KEY_LAST_USED_RESOLUTION_SECONDS = 60
LOG_RETENTION_DAYS: int = env.int("LOG_RETENTION_DAYS", default=365)
# Without a Celery broker the gateway process seals audit chains itself, every few seconds.
AUDIT_SEAL_IN_PROCESS: bool = env.bool("AUDIT_SEAL_IN_PROCESS", default=not CELERY_BROKER_URL)
AUDIT_SEAL_INTERVAL_SECONDS: float = env.float("AUDIT_SEAL_INTERVAL_SECONDS", default=2.0)
# A response waits for its record's commit. With this off (the default) that commit does not
# also wait for PostgreSQL's WAL flush to disk: the record is committed and visible before the
# answer, survives any gateway or PostgreSQL process crash, and is lost only if the database
# host itself fails within about 3 x wal_writer_delay (0.6 s). On, the fsync is part of every
# answer's latency (what it costs: docs/performance.md → Decisions). See docs/decisions.md.
AUDIT_RECORD_FSYNC: bool = env.bool("AUDIT_RECORD_FSYNC", default=False)

LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO").upper()
# GET /metrics (SPEC 8): with a token set, only "Authorization: Bearer <token>" reads it.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
# How many tenants get a "tenant" label of their own in one gateway process's metrics: the first
# this many it counts; later ones are counted as tenant="_other", so series stay bounded.
METRICS_MAX_TENANTS: int = env.int("METRICS_MAX_TENANTS", default=1_000)
# Where every gateway process of a host writes its metric values, so that a scrape of any of
# them sums them all (prometheus-client reads the same variable; config/gunicorn.py sets it
# to a private directory when it is unset). Empty: each process counts for itself.
PROMETHEUS_MULTIPROC_DIR: str = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
# Set: one span per proxied request to this OpenTelemetry collector over OTLP/HTTP (needs the
# "otel" extra; the SDK reads this and its other OTEL_* variables itself). Unset: no traces,
# and the OpenTelemetry packages are never imported.
OTEL_EXPORTER_OTLP_ENDPOINT: str = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
# text (the default): plain lines; json: one JSON object a line, with the ids of the request
# a line is about (core/log_json.py), the servers' own lines included.
LOG_FORMAT: str = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.log_json.JsonLineFormatter"},
    },
    # Query strings may carry an app's key (SPEC 3.1): their values never reach a log line.
    "filters": {"redact_query_strings": {"()": "core.log_redaction.access_log_redaction"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact_query_strings"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
if LOG_FORMAT == "json":
    # uvicorn and gunicorn give their loggers handlers of their own, in their own text format,
    # and so does Django to "django" (its plain "Not Found: …" lines when DEBUG is on); JSON
    # means every line, so theirs go through this handler only.
    for _server_logger in ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access", "django"):
        LOGGING["loggers"][_server_logger] = {"handlers": ["console"], "propagate": False}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.GatewayAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Org keys first: a request carrying both a key and a session cookie is the key's.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "keys.api.authentication.BearerAuthentication",
        "tenants.api.authentication.ConsoleSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.ManagementAccess"],
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "aidgate API",
    "DESCRIPTION": (
        "Management API and OpenAI-compatible proxy of the aidgate AI identity gateway. "
        "Management endpoints take `Authorization: Bearer aid_org_…` or a console session; "
        "errors are `{error: {code, reason, message, type, request_id}}`; lists are cursor-paginated "
        "with `limit` and `after`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are public (SPEC 5.9): no credential is read, none is needed.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    # No badge from validator.swagger.io: the docs load nothing from outside the gateway.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "identity.models.AgentStatus",
        "CredentialStatusEnum": "keys.models.CredentialState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The proxy is not a Django view; its paths are described by hand.
        "proxy.openapi.proxy_paths_add",
    ],
}
