"""A small HTTP client of the management API (SPEC 5), for scripts and the ``aidgate`` command.

It talks HTTP only and imports nothing of the gateway's own Django packages, so that it runs
wherever ``requests`` does: on an operator's laptop, in CI, on an auditor's machine. Every
list is walked through its cursor pages (``after`` = the previous page's ``last_id`` while
``has_more``) and handed out one object at a time, and every failure, from the API's error
envelope (SPEC 4) to a refused connection, is one exception type, :class:`AidgateError`.

The org key is read from the argument or ``AIDGATE_ORG_KEY`` and only ever sent in the
``Authorization`` header: it is in no message, no ``repr`` and no log line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, TypedDict

import requests

from aidgate import __version__

DEFAULT_TIMEOUT = 30.0
MAX_PAGE_SIZE = 100  # the API clamps larger pages to this (SPEC 5)
DOWNLOAD_CHUNK_BYTES = 64 * 1024
RECORD_LINE_START = b'\n{"type":"record"'  # how the JSONL export writes each record line

Obj = dict[str, Any]
# ``(bytes so far, records so far)``, called as an export or a download streams.
ProgressCallback = Callable[[int, int], None]


class Page(TypedDict):
    """One page of a list, as the API answers it."""

    object: Literal["list"]
    data: list[Obj]
    has_more: bool
    last_id: str | None


class AuditVerification(TypedDict):
    """The answer of ``GET /v1/audit/verify`` (SPEC 5.7)."""

    valid: bool
    checked: int
    first_invalid: str | None
    problem: str | None
    checkpoint: Obj | None
    unsigned: int


class AidgateError(Exception):
    """Anything that went wrong, carrying the API's error envelope (SPEC 4) when there is one.

    ``status`` is the HTTP status, or ``None`` when no answer came (no URL or key configured,
    connection refused, timeout); then ``code`` says which: ``configuration``,
    ``connection_error`` or ``timeout``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        reason: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.reason = reason or code
        self.request_id = request_id

    @classmethod
    def from_response(cls, response: requests.Response) -> AidgateError:
        """The envelope of an error answer; an answer that is not one (a proxy's HTML page in
        front of the gateway) still becomes an error with its status and the start of its text."""
        try:
            error = response.json()["error"]
            return cls(
                str(error.get("message") or error.get("code") or "error"),
                status=response.status_code,
                code=str(error.get("code") or "error"),
                reason=error.get("reason"),
                request_id=error.get("request_id") or response.headers.get("X-Request-ID"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            text = response.text[:200].strip() or response.reason or ""
            return cls(
                f"HTTP {response.status_code}: {text}",
                status=response.status_code,
                code="http_error",
                request_id=response.headers.get("X-Request-ID"),
            )

    def envelope(self) -> Obj:
        """The error as SPEC 4 shapes it (``status`` added), for machine output."""
        return {
            "error": {
                "status": self.status,
                "code": self.code,
                "reason": self.reason,
                "message": self.message,
                "request_id": self.request_id,
            }
        }

    def __str__(self) -> str:
        return self.message


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    """Drop the parameters left unset, so the API applies its own defaults."""
    return {name: value for name, value in params.items() if value is not None}


class AidgateClient:
    """The management API of one tenant, as its org key sees it.

    ``url`` and ``key`` default to ``AIDGATE_URL`` and ``AIDGATE_ORG_KEY``. ``timeout`` bounds
    the connection and each read (an export that keeps streaming is not cut off; one that
    stalls is). ``page_size`` is how many objects each list request asks for.
    """

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        url = url or os.environ.get("AIDGATE_URL")
        key = key or os.environ.get("AIDGATE_ORG_KEY")
        if not url:
            raise AidgateError("no gateway URL: pass --url or set AIDGATE_URL", code="configuration")
        if not key:
            raise AidgateError("no org key: set AIDGATE_ORG_KEY (or pass --key)", code="configuration")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise AidgateError(f"page size must be from 1 to {MAX_PAGE_SIZE}", code="configuration")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.page_size = page_size
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {key}", "User-Agent": f"aidgate/{__version__}"})

    def __repr__(self) -> str:
        return f"AidgateClient(url={self.url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AidgateClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ---

    def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Obj | None = None, stream=False
    ) -> requests.Response:
        try:
            response = self._session.request(
                method,
                self.url + path,
                params=_clean(params or {}),
                json=body,
                timeout=self.timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise AidgateError(f"no answer from {self.url} within {self.timeout:g} s", code="timeout") from exc
        except requests.RequestException as exc:
            raise AidgateError(f"cannot reach {self.url}: {type(exc).__name__}", code="connection_error") from exc
        if response.status_code >= 300:
            error = AidgateError.from_response(response)
            response.close()
            raise error
        return response

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Obj | None = None) -> Any:
        response = self._send(method, path, params=params, body=body)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _walk(self, path: str, params: dict[str, Any] | None = None, limit: int | None = None) -> Iterator[Obj]:
        """Every object of a list, page after page; at most ``limit`` when given."""
        after: str | None = None
        seen = 0
        while True:
            size = self.page_size if limit is None else min(self.page_size, limit - seen)
            if size <= 0:
                return
            page: Page = self._call("GET", path, params={**(params or {}), "limit": size, "after": after})
            for item in page["data"]:
                yield item
                seen += 1
            if not page["has_more"] or not page["data"]:
                return
            after = page["last_id"]

    def _download(
        self, path: str, params: dict[str, Any], out: IO[bytes], on_progress: ProgressCallback | None
    ) -> tuple[int, int]:
        """Stream an answer into ``out``; returns (bytes, JSONL ``record`` lines) written."""
        written = records = 0
        tail = b""
        with self._send("GET", path, params=params, stream=True) as response:
            try:
                for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    # A record line never starts the file (the header does); the tail of the
                    # previous chunk catches a line start split between two chunks.
                    records += (tail + chunk).count(RECORD_LINE_START)
                    tail = chunk[-(len(RECORD_LINE_START) - 1) :]
                    if on_progress:
                        on_progress(written, records)
            except requests.RequestException as exc:
                raise AidgateError(
                    f"the download broke off after {written} bytes: {type(exc).__name__}", code="connection_error"
                ) from exc
        return written, records

    # --- Agents (SPEC 5.2) ---

    def agent_list(self, *, limit: int | None = None) -> Iterator[Obj]:
        return self._walk("/v1/agents", limit=limit)

    def agent_get(self, agent_id: str) -> Obj:
        return self._call("GET", f"/v1/agents/{agent_id}")

    def agent_create(self, *, name: str, **fields: Any) -> Obj:
        """``fields``: ``description``, ``app_id``, ``owner_email``, ``allowed_models``, ``metadata``, ``status``."""
        return self._call("POST", "/v1/agents", body={"name": name, **_clean(fields)})

    def agent_update(self, agent_id: str, **fields: Any) -> Obj:
        return self._call("PATCH", f"/v1/agents/{agent_id}", body=fields)

    def agent_suspend(self, agent_id: str) -> Obj:
        """Its keys answer ``403 agent_suspended`` from the next request on."""
        return self.agent_update(agent_id, status="suspended")

    def agent_resume(self, agent_id: str) -> Obj:
        return self.agent_update(agent_id, status="active")

    def agent_delete(self, agent_id: str) -> None:
        """Revokes the agent's keys; its logs stay."""
        self._call("DELETE", f"/v1/agents/{agent_id}")

    # --- Keys (SPEC 5.3) ---

    def key_list(self, agent_id: str, *, limit: int | None = None) -> Iterator[Obj]:
        return self._walk(f"/v1/agents/{agent_id}/keys", limit=limit)

    def key_get(self, agent_id: str, key_id: str) -> Obj:
        return self._call("GET", f"/v1/agents/{agent_id}/keys/{key_id}")

    def key_create(self, agent_id: str, **fields: Any) -> Obj:
        """The answer's ``key`` is the secret, shown this once. ``fields``: ``name``, ``scopes``,
        ``rate_limit``, ``expires_in_days``, ``app_id``, ``allowed_models`` (globs; unset:
        inherit), the identity overrides."""
        return self._call("POST", f"/v1/agents/{agent_id}/keys", body=_clean(fields))

    def key_rotate(self, agent_id: str, key_id: str, *, grace_seconds: int | None = None) -> Obj:
        """A new key (new ``id``, new secret shown this once); the old one works ``grace_seconds`` more."""
        body = _clean({"grace_seconds": grace_seconds})
        return self._call("POST", f"/v1/agents/{agent_id}/keys/{key_id}/rotate", body=body)

    def key_revoke(self, agent_id: str, key_id: str) -> None:
        self._call("DELETE", f"/v1/agents/{agent_id}/keys/{key_id}")

    # --- Apps (SPEC 5.1) ---

    def app_list(self, *, limit: int | None = None) -> Iterator[Obj]:
        return self._walk("/v1/apps", limit=limit)

    def app_get(self, app_id: str) -> Obj:
        return self._call("GET", f"/v1/apps/{app_id}")

    def app_create(self, *, name: str, slug: str, **fields: Any) -> Obj:
        return self._call("POST", "/v1/apps", body={"name": name, "slug": slug, **_clean(fields)})

    def app_update(self, app_id: str, **fields: Any) -> Obj:
        return self._call("PATCH", f"/v1/apps/{app_id}", body=fields)

    def app_delete(self, app_id: str) -> None:
        self._call("DELETE", f"/v1/apps/{app_id}")

    # --- Policies (SPEC 5.4) ---

    def policy_list(self, *, limit: int | None = None) -> Iterator[Obj]:
        return self._walk("/v1/policies", limit=limit)

    def policy_get(self, policy_id: str) -> Obj:
        return self._call("GET", f"/v1/policies/{policy_id}")

    def policy_create(self, *, name: str, **fields: Any) -> Obj:
        """``fields``: where it applies (``tenant_wide``, ``app_ids``, ``agent_ids``) and the limits of SPEC 3.4."""
        return self._call("POST", "/v1/policies", body={"name": name, **_clean(fields)})

    def policy_update(self, policy_id: str, **fields: Any) -> Obj:
        return self._call("PATCH", f"/v1/policies/{policy_id}", body=fields)

    def policy_delete(self, policy_id: str) -> None:
        self._call("DELETE", f"/v1/policies/{policy_id}")

    # --- Providers (SPEC 5.5) ---

    def provider_list(self, *, limit: int | None = None) -> Iterator[Obj]:
        return self._walk("/v1/providers", limit=limit)

    def provider_get(self, provider_id: str) -> Obj:
        return self._call("GET", f"/v1/providers/{provider_id}")

    def provider_create(self, *, name: str, kind: str, **fields: Any) -> Obj:
        """``api_key`` is write-only: reads show ``api_key_set``."""
        return self._call("POST", "/v1/providers", body={"name": name, "kind": kind, **_clean(fields)})

    def provider_update(self, provider_id: str, **fields: Any) -> Obj:
        return self._call("PATCH", f"/v1/providers/{provider_id}", body=fields)

    def provider_delete(self, provider_id: str) -> None:
        self._call("DELETE", f"/v1/providers/{provider_id}")

    # --- Logs and the audit chain (SPEC 5.7) ---

    def log_list(self, *, agent_id: str | None = None, limit: int | None = None, **filters: Any) -> Iterator[Obj]:
        """Newest first. ``filters``: ``since``, ``until``, ``user``, ``conversation_id``,
        ``client_request_id``, ``app_id``, ``model``, ``status``, ``error_code``."""
        path = f"/v1/agents/{agent_id}/logs" if agent_id else "/v1/logs"
        return self._walk(path, filters, limit=limit)

    def log_get(self, request_id: str) -> Obj:
        return self._call("GET", f"/v1/logs/{request_id}")

    def log_export(
        self,
        out: IO[bytes] | str | Path,
        *,
        format: Literal["jsonl", "csv"] = "jsonl",
        on_progress: ProgressCallback | None = None,
        **filters: Any,
    ) -> tuple[int, int]:
        """Stream the export into a file (a path or an open binary file), in constant memory
        whatever its size; returns (bytes, records). An unfiltered JSONL export verifies
        offline (:func:`aidgate.audit.export_verify`). A path is written only once the export
        is complete: a broken download leaves no file that looks whole."""
        params = {"format": format, **filters}
        if not isinstance(out, str | Path):
            return self._download("/v1/logs/export", params, out, on_progress)
        return _to_path(Path(out), lambda handle: self._download("/v1/logs/export", params, handle, on_progress))

    def audit_verify(self) -> AuditVerification:
        """The gateway's own check of the tenant's sealed chain."""
        return self._call("GET", "/v1/audit/verify")

    def audit_public_key(self) -> str:
        """The PEM of the key that signs checkpoints, to verify an export offline."""
        return self._call("GET", "/v1/audit/public-key")["pem"]

    # --- Usage and reports (SPEC 5.8) ---

    def usage(
        self,
        *,
        agent_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        group_by: str | None = None,
    ) -> Obj:
        path = f"/v1/agents/{agent_id}/usage" if agent_id else "/v1/usage"
        return self._call("GET", path, params={"since": since, "until": until, "group_by": group_by})

    def report_create(self, *, framework: str, since: str | None = None, until: str | None = None) -> Obj:
        """Queues the report (``status`` ``pending``) unless the gateway built it inline."""
        return self._call("POST", "/v1/reports", body=_clean({"framework": framework, "since": since, "until": until}))

    def report_get(self, report_id: str) -> Obj:
        return self._call("GET", f"/v1/reports/{report_id}")

    def report_wait(
        self,
        report_id: str,
        *,
        timeout: float = 600.0,
        poll_seconds: float = 1.0,
        on_poll: Callable[[Obj, float], None] | None = None,
    ) -> Obj:
        """Poll until the report is ``ready`` or ``failed`` (returned either way; the caller
        reads ``status``); ``AidgateError`` with code ``timeout`` after ``timeout`` seconds."""
        started = time.monotonic()
        while True:
            report = self.report_get(report_id)
            elapsed = time.monotonic() - started
            if on_poll:
                on_poll(report, elapsed)
            if report["status"] != "pending":
                return report
            if elapsed >= timeout:
                raise AidgateError(f"report {report_id} still pending after {timeout:g} s", code="timeout")
            time.sleep(poll_seconds)

    def report_download(
        self,
        report_id: str,
        out: IO[bytes] | str | Path,
        *,
        format: Literal["pdf", "html", "json"] = "pdf",
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Write the report document; ``409 report_not_ready`` until it is built. Returns bytes."""
        path, params = f"/v1/reports/{report_id}/download", {"format": format}
        if not isinstance(out, str | Path):
            return self._download(path, params, out, on_progress)[0]
        return _to_path(Path(out), lambda handle: self._download(path, params, handle, on_progress))[0]


def _to_path(path: Path, write: Callable[[IO[bytes]], tuple[int, int]]) -> tuple[int, int]:
    """Write through a temporary file beside ``path`` and move it into place when complete."""
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as handle:
            result = write(handle)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return result
