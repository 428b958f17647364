"""``aidgate``: the management API from a shell, for scripts and people (SPEC 8, ``docs/cli.md``).

Tables for people, ``--json`` for scripts; the API's error message on stderr and an exit code
that says what kind of failure it was (``EXIT_CODES``), so that a script can tell "no such
agent" from "the gateway is down" without parsing text. Progress goes to stderr, only on a
terminal unless ``--progress`` asks for it, so stdout stays the command's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from aidgate import __version__
from aidgate.audit import ExportUnreadable, ExportVerdict, export_verify
from aidgate.client import DEFAULT_TIMEOUT, MAX_PAGE_SIZE, AidgateClient, AidgateError, Obj

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # the command ran and its answer is "no": a broken chain, a failed report
EXIT_USAGE = 2  # bad arguments, no URL or key configured (argparse's own code for usage errors)
EXIT_UNREACHABLE = 3  # no answer: connection refused, DNS, timeout
EXIT_UNAUTHORIZED = 4  # 401: no valid org key
EXIT_FORBIDDEN = 5  # 403: a viewer key writing, an agent key on the management API
EXIT_NOT_FOUND = 6  # 404: unknown id, or another tenant's
EXIT_REFUSED = 7  # any other 4xx: invalid request, report not ready (409), 413, 429
EXIT_SERVER = 8  # 5xx, or an answer that is not the API's
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED_CHECK: "the check failed (audit verify: broken or untrusted; reports: the build failed)",
    EXIT_USAGE: "usage error, or no URL or org key configured",
    EXIT_UNREACHABLE: "the gateway did not answer (connection refused, timeout)",
    EXIT_UNAUTHORIZED: "401: the org key is missing, unknown, revoked or expired",
    EXIT_FORBIDDEN: "403: the key may not do this (a viewer writing, an agent key)",
    EXIT_NOT_FOUND: "404: no such object in this tenant",
    EXIT_REFUSED: "another 4xx: invalid request, report not ready, rate limited",
    EXIT_SERVER: "5xx, or an answer that is not the API's",
}

# The columns of each object's table; the full object is one --json away.
COLUMNS: dict[str, tuple[str, ...]] = {
    "agent": ("id", "name", "status", "app_id", "owner_email", "created_at"),
    "key": ("id", "name", "prefix", "status", "app_id", "expires_at", "last_used_at"),
    "app": ("id", "slug", "name", "is_default", "created_at"),
    "policy": ("id", "name", "enabled", "tenant_wide", "requests_per_minute", "daily_token_budget"),
    "provider": ("id", "name", "kind", "base_url", "api_key_set", "priority"),
    "log": ("id", "created_at", "agent_id", "endpoint", "model_requested", "status_code", "error_reason"),
    "report": ("id", "framework", "status", "since", "until", "created_at"),
    "usage": ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "latency_p50_ms"),
}
LOG_FILTERS = ("since", "until", "user", "conversation_id", "client_request_id", "app_id", "model", "status",
               "error_code")  # fmt: skip


# --- Output ---


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(rows: Iterable[Obj], columns: Sequence[str], out: IO[str]) -> None:
    """Plain aligned columns: readable on a terminal, and still ``cut``/``awk``-able."""
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


def detail(obj: Obj, out: IO[str]) -> None:
    """One object as ``field  value`` lines, every field."""
    width = max((len(k) for k in obj), default=0)
    for name, value in obj.items():
        out.write(f"{name.ljust(width)}  {cell(value)}\n")


class Output:
    """Where answers and progress go, by the global flags."""

    def __init__(self, *, as_json: bool, progress: bool | None) -> None:
        self.as_json = as_json
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._last = 0.0

    def objects(self, kind: str, items: Iterable[Obj]) -> None:
        if self.as_json:
            json.dump(list(items), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            table(items, COLUMNS[kind], sys.stdout)

    def one(self, obj: Obj) -> None:
        if self.as_json:
            json.dump(obj, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            detail(obj, sys.stdout)

    def note(self, text: str, data: Obj | None = None) -> None:
        """A one-line result for people; its data as JSON for scripts."""
        if self.as_json:
            json.dump(data or {}, sys.stdout)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(text + "\n")

    def step(self, text: str, *, final: bool = False) -> None:
        """A progress line on stderr: rewritten in place on a terminal, at most a line a second
        (and the last one) otherwise, so a log file stays short."""
        if not self.progress:
            return
        now = time.monotonic()
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        elif final or now - self._last >= 1.0:
            sys.stderr.write(text + "\n")
        else:
            return
        self._last = now
        sys.stderr.flush()


def size_text(count: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


# --- Commands ---


def body_extra(args: argparse.Namespace) -> Obj:
    """``--data JSON``: any other field of the object, as the API names it."""
    if not getattr(args, "data", None):
        return {}
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--data is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise UsageError("--data must be a JSON object")
    return data


class UsageError(Exception):
    """A mistake in the arguments that argparse cannot see (malformed --data, a missing env var)."""


def agents(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        out.objects("agent", client.agent_list(limit=args.limit or None))
    elif args.action == "create":
        fields = {"description": args.description, "app_id": args.app_id, "owner_email": args.owner_email,
                  "allowed_models": args.allowed_model}  # fmt: skip
        out.one(client.agent_create(name=args.name, **fields, **body_extra(args)))
    elif args.action == "show":
        out.one(client.agent_get(args.agent_id))
    elif args.action == "suspend":
        out.one(client.agent_suspend(args.agent_id))
    elif args.action == "resume":
        out.one(client.agent_resume(args.agent_id))
    elif args.action == "delete":
        client.agent_delete(args.agent_id)
        out.note(f"deleted {args.agent_id} (its keys are revoked, its logs stay)", {"id": args.agent_id})
    return EXIT_OK


def show_secret_once(key: Obj, out: Output) -> None:
    """A new key's secret, once: on its own line with a warning for people, in ``key`` for scripts."""
    if out.as_json:
        out.one(key)
        return
    detail({k: v for k, v in key.items() if k != "key"}, sys.stdout)
    sys.stdout.write(f"\nsecret (shown once, store it now):\n{key['key']}\n")


def keys(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        out.objects("key", client.key_list(args.agent_id, limit=args.limit or None))
    elif args.action == "create":
        fields = {"name": args.name, "scopes": args.scope, "rate_limit": args.rate_limit,
                  "expires_in_days": args.expires_in_days, "app_id": args.app_id,
                  "allowed_models": args.allowed_models}  # fmt: skip
        show_secret_once(client.key_create(args.agent_id, **fields, **body_extra(args)), out)
    elif args.action == "rotate":
        show_secret_once(client.key_rotate(args.agent_id, args.key_id, grace_seconds=args.grace_seconds), out)
    elif args.action == "revoke":
        client.key_revoke(args.agent_id, args.key_id)
        out.note(f"revoked {args.key_id}", {"id": args.key_id, "revoked": True})
    return EXIT_OK


def apps(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        out.objects("app", client.app_list(limit=args.limit or None))
    elif args.action == "show":
        out.one(client.app_get(args.app_id))
    elif args.action == "create":
        fields = {"description": args.description, "is_default": args.default or None}
        out.one(client.app_create(name=args.name, slug=args.slug, **fields, **body_extra(args)))
    elif args.action == "delete":
        client.app_delete(args.app_id)
        out.note(f"deleted {args.app_id}", {"id": args.app_id})
    return EXIT_OK


def policies(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        out.objects("policy", client.policy_list(limit=args.limit or None))
    elif args.action == "show":
        out.one(client.policy_get(args.policy_id))
    elif args.action == "create":
        fields = {
            "tenant_wide": args.tenant_wide or None, "app_ids": args.app_id, "agent_ids": args.agent_id,
            "allowed_models": args.allowed_model, "requests_per_minute": args.requests_per_minute,
            "tokens_per_minute": args.tokens_per_minute, "daily_token_budget": args.daily_token_budget,
            "monthly_token_budget": args.monthly_token_budget, "enabled": False if args.disabled else None,
        }  # fmt: skip
        out.one(client.policy_create(name=args.name, **fields, **body_extra(args)))
    elif args.action == "delete":
        client.policy_delete(args.policy_id)
        out.note(f"deleted {args.policy_id}", {"id": args.policy_id})
    return EXIT_OK


def providers(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        out.objects("provider", client.provider_list(limit=args.limit or None))
    elif args.action == "show":
        out.one(client.provider_get(args.provider_id))
    elif args.action == "create":
        api_key = None
        if args.api_key_env:
            # From the environment, never the command line: argv is visible to every user of
            # the machine (ps) and lands in shell history.
            api_key = os.environ.get(args.api_key_env)
            if not api_key:
                raise UsageError(f"--api-key-env: {args.api_key_env} is not set")
        fields = {"base_url": args.base_url, "api_key": api_key, "models": args.model, "priority": args.priority}
        out.one(client.provider_create(name=args.name, kind=args.kind, **fields, **body_extra(args)))
    elif args.action == "delete":
        client.provider_delete(args.provider_id)
        out.note(f"deleted {args.provider_id}", {"id": args.provider_id})
    return EXIT_OK


def log_filters(args: argparse.Namespace) -> Obj:
    return {name: getattr(args, name) for name in LOG_FILTERS if getattr(args, name, None) is not None}


def logs(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "list":
        items = client.log_list(agent_id=args.agent, limit=args.limit or None, **log_filters(args))
        out.objects("log", items)
    elif args.action == "show":
        out.one(client.log_get(args.request_id))
    elif args.action == "export":
        started = time.monotonic()

        def progress(written: int, records: int) -> None:
            counted = f"{records} records, " if args.format == "jsonl" else ""
            out.step(f"exporting: {counted}{size_text(written)}, {time.monotonic() - started:.1f} s")

        written, records = client.log_export(args.output, format=args.format, on_progress=progress,
                                             **log_filters(args))  # fmt: skip
        progress(written, records)
        out.step(f"exported {args.output}", final=True)
        counted = f"{records} records, " if args.format == "jsonl" else ""
        out.note(
            f"wrote {counted}{size_text(written)} to {args.output}",
            {"path": str(args.output), "bytes": written, "format": args.format,
             **({"records": records} if args.format == "jsonl" else {})},
        )  # fmt: skip
    return EXIT_OK


def usage(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    summary = client.usage(agent_id=args.agent, since=args.since, until=args.until, group_by=args.group_by)
    if out.as_json:
        out.one(summary)
        return EXIT_OK
    sys.stdout.write(f"{summary['since']} .. {summary['until']}\n")
    columns = COLUMNS["usage"]
    if args.group_by:
        rows = [{args.group_by: group["key"].get(args.group_by), **group} for group in summary["groups"]]
        table(rows, (args.group_by, *columns), sys.stdout)
    else:
        table([summary["totals"]], columns, sys.stdout)
    return EXIT_OK


def report_wait(client: AidgateClient, report: Obj, out: Output, timeout: float) -> Obj:
    def polled(current: Obj, elapsed: float) -> None:
        out.step(f"report {current['id']}: {current['status']}, {elapsed:.0f} s", final=current["status"] != "pending")

    return client.report_wait(report["id"], timeout=timeout, on_poll=polled)


def reports(client: AidgateClient, args: argparse.Namespace, out: Output) -> int:
    if args.action == "create":
        report = client.report_create(framework=args.framework, since=args.since, until=args.until)
    elif args.action == "show":
        report = client.report_get(args.report_id)
    else:  # download
        if args.wait:
            report = report_wait(client, client.report_get(args.report_id), out, args.wait_timeout)
            if report["status"] == "failed":
                raise AidgateError(f"report {report['id']} failed: {report.get('error') or 'no reason given'}",
                                   status=None, code="report_failed")  # fmt: skip
        target = args.output or Path(f"{args.report_id}.{args.format}")
        written = client.report_download(args.report_id, target, format=args.format)
        out.note(f"wrote {size_text(written)} to {target}", {"path": str(target), "bytes": written})
        return EXIT_OK
    if args.wait:
        report = report_wait(client, report, out, args.wait_timeout)
    if out.as_json:
        out.one(report)
    else:
        detail({k: v for k, v in report.items() if k != "findings"}, sys.stdout)
        findings = report.get("findings") or []
        if findings:
            sys.stdout.write("\n")
            table(findings, ("control", "status", "title"), sys.stdout)
    return EXIT_FAILED_CHECK if report["status"] == "failed" else EXIT_OK


def verdict_lines(verdict: ExportVerdict | Obj, tenant_id: str) -> list[str]:
    get = verdict.get if isinstance(verdict, dict) else lambda name: getattr(verdict, name)
    if not get("valid"):
        where = f" at {get('first_invalid')}" if get("first_invalid") else ""
        return [f"{tenant_id}: BROKEN{where}: {get('problem')}"]
    lines = [f"{tenant_id}: valid, {get('checked')} records checked"]
    if get("unsigned"):
        lines.append(f"{tenant_id}: {get('unsigned')} records past the last signed checkpoint are unsigned "
                     "(hash-linked, not yet covered by a signature)")  # fmt: skip
    return lines


def audit(client_factory: Callable[[], AidgateClient], args: argparse.Namespace, out: Output) -> int:
    """Online (the gateway checks its database) without ``--file``; offline with it, in this
    process and without the gateway, trusting only the key given (SPEC 6)."""
    if args.action == "public-key":
        pem = client_factory().audit_public_key()
        out.note(pem.rstrip("\n"), {"pem": pem})
        return EXIT_OK
    if not args.file:
        verdict = client_factory().audit_verify()
        if out.as_json:
            out.one(dict(verdict))
        else:
            sys.stdout.write("\n".join(verdict_lines(verdict, "chain")) + "\n")
        return EXIT_OK if verdict["valid"] else EXIT_FAILED_CHECK
    pem = None
    if args.public_key:
        try:
            pem = Path(args.public_key).read_text()
        except OSError as exc:
            raise UsageError(f"--public-key: cannot read {args.public_key}: {exc.strerror}") from exc
    try:
        offline = export_verify(args.file, pem)
    except FileNotFoundError as exc:
        raise UsageError(f"--file: no such file: {args.file}") from exc
    except ExportUnreadable as exc:
        raise UsageError(f"cannot verify {args.file}: {exc}") from exc
    untrusted = offline.embedded_key and not args.trust_embedded_key
    if out.as_json:
        out.one({**offline.__dict__, "trusted": not untrusted})
    else:
        sys.stdout.write("\n".join(verdict_lines(offline, offline.tenant_id)) + "\n")
        if offline.embedded_key:
            sys.stdout.write("the signing key came from the export itself, not from --public-key\n")
    if not offline.valid:
        return EXIT_FAILED_CHECK
    if untrusted:
        sys.stderr.write("aidgate: not verified against a key you trust: pass --public-key (aidgate audit "
                         "public-key > key.pem, or from the tenant out of band) or --trust-embedded-key\n")  # fmt: skip
        return EXIT_FAILED_CHECK
    return EXIT_OK


# --- Arguments ---


def model_globs(text: str) -> list[str]:
    """``--allowed-models 'gpt-4o*,mock-*'``: the globs of one option, comma-separated. An empty
    value is sent as ``[]``, which the API refuses (SPEC 1: omit the option to inherit)."""
    return [glob.strip() for glob in text.split(",") if glob.strip()]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command's name. On subcommands
    their defaults are suppressed, so one given before the command is not reset after it."""
    parent = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parent.add_argument("--url", default=default(None), help="the gateway's base URL (default: $AIDGATE_URL)")
    parent.add_argument(
        "--key",
        default=default(None),
        help="org key (default: $AIDGATE_ORG_KEY; prefer the variable: argv is visible in ps)",
    )
    parent.add_argument("--json", action="store_true", default=default(False), help="machine output on stdout")
    parent.add_argument(
        "--timeout",
        type=float,
        default=default(DEFAULT_TIMEOUT),
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )
    parent.add_argument(
        "--page-size",
        type=int,
        default=default(MAX_PAGE_SIZE),
        help=f"objects per list request, 1-{MAX_PAGE_SIZE}; lists are walked whole either way",
    )
    progress = parent.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=default(None),
        help="progress on stderr even when it is not a terminal",
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", default=default(None), help="no progress display"
    )
    return parent


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aidgate",
        description="Drive an aidgate gateway's management API (docs/cli.md).",
        parents=[global_options(suppress=False)],
        epilog="exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"aidgate {__version__}")
    common = global_options(suppress=True)
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    def group(name: str, help_text: str) -> argparse._SubParsersAction:
        sub = groups.add_parser(name, help=help_text, parents=[common])
        return sub.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(actions: argparse._SubParsersAction, name: str, help_text: str, *ids: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, parents=[common])
        for id_name in ids:
            sub.add_argument(id_name)
        return sub

    def listing(actions: argparse._SubParsersAction, help_text: str, *ids: str, limit: int = 0) -> None:
        sub = action(actions, "list", help_text, *ids)
        sub.add_argument("--limit", type=positive_int, default=limit,
                         help=f"at most this many (0: all; default {limit or 'all'})")  # fmt: skip

    def data_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data", help="other fields as a JSON object, as the API names them")

    agent = group("agents", "agents (SPEC 5.2)")
    listing(agent, "every agent")
    create = action(agent, "create", "create an agent", "name")
    create.add_argument("--description")
    create.add_argument("--app-id")
    create.add_argument("--owner-email")
    create.add_argument("--allowed-model", action="append", help="a model glob it may use (repeat)")
    data_option(create)
    for name, text in (("show", "one agent"), ("suspend", "refuse its keys from the next request on"),
                       ("resume", "let its keys work again"), ("delete", "delete it and revoke its keys")):  # fmt: skip
        action(agent, name, text, "agent_id")

    key = group("keys", "an agent's keys (SPEC 5.3)")
    listing(key, "an agent's keys (never their secrets)", "agent_id")
    create = action(key, "create", "a new key; its secret is shown this once", "agent_id")
    create.add_argument("--name")
    create.add_argument("--scope", action="append", help="chat:completions, embeddings, models:read (repeat)")
    create.add_argument("--rate-limit", type=int, help="requests per minute")
    create.add_argument("--expires-in-days", type=int, help="1-365 (default 90)")
    create.add_argument("--app-id", help="bind the key to one app (default: tenant-scoped)")
    create.add_argument("--allowed-models", "--allowed-model", dest="allowed_models", type=model_globs,
                        action="extend", metavar="GLOB[,GLOB…]",
                        help="model globs the key may use, narrowing its agent's (commas or repeat; "
                             "default: inherit)")  # fmt: skip
    data_option(create)
    rotate = action(key, "rotate", "a new secret with the same settings, shown this once", "agent_id", "key_id")
    rotate.add_argument("--grace-seconds", type=int, help="how long the old secret keeps working (default 0)")
    action(key, "revoke", "revoke a key now", "agent_id", "key_id")

    app = group("apps", "apps (SPEC 5.1)")
    listing(app, "every app")
    action(app, "show", "one app", "app_id")
    create = action(app, "create", "create an app", "name")
    create.add_argument("--slug", required=True)
    create.add_argument("--description")
    create.add_argument("--default", action="store_true", help="the tenant's default app")
    data_option(create)
    action(app, "delete", "delete an app", "app_id")

    policy = group("policies", "policies (SPEC 5.4)")
    listing(policy, "every policy")
    action(policy, "show", "one policy", "policy_id")
    create = action(policy, "create", "create a policy", "name")
    create.add_argument("--tenant-wide", action="store_true")
    create.add_argument("--app-id", action="append", help="attach to this app (repeat)")
    create.add_argument("--agent-id", action="append", help="attach to this agent (repeat)")
    create.add_argument("--allowed-model", action="append", help="a model glob (repeat)")
    for name in ("requests-per-minute", "tokens-per-minute", "daily-token-budget", "monthly-token-budget"):
        create.add_argument(f"--{name}", type=int)
    create.add_argument("--disabled", action="store_true", help="create it switched off")
    data_option(create)
    action(policy, "delete", "delete a policy", "policy_id")

    provider = group("providers", "upstream providers (SPEC 5.5)")
    listing(provider, "every provider")
    action(provider, "show", "one provider (its API key never)", "provider_id")
    create = action(provider, "create", "create a provider", "name")
    create.add_argument("--kind", required=True, help="openai, openai_compatible, azure_openai, anthropic, ...")
    create.add_argument("--base-url")
    create.add_argument("--api-key-env", metavar="VAR", help="read the upstream API key from this variable")
    create.add_argument("--model", action="append", help="a model pattern it serves (repeat)")
    create.add_argument("--priority", type=int)
    data_option(create)
    action(provider, "delete", "delete a provider", "provider_id")

    log = group("logs", "request logs (SPEC 5.7)")
    listing(log, "newest first", limit=50)
    export = action(log, "export", "stream every matching record to a file")
    export.add_argument("--output", "-o", type=Path, required=True)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                        help="jsonl (default) verifies offline when unfiltered; csv is for spreadsheets")  # fmt: skip
    for sub in (log.choices["list"], export):
        for name in LOG_FILTERS:
            sub.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int if name == "status" else str)
    log.choices["list"].add_argument("--agent", help="only this agent's requests (a deleted agent's too)")
    action(log, "show", "one record, with bodies when captured", "request_id")

    usage_parser = groups.add_parser("usage", help="totals of requests, tokens, cost (SPEC 5.8)", parents=[common])
    usage_parser.add_argument("--since")
    usage_parser.add_argument("--until")
    usage_parser.add_argument("--group-by", choices=("day", "hour", "model", "user", "app", "agent"))
    usage_parser.add_argument("--agent", help="only this agent")

    report = group("reports", "compliance reports (SPEC 5.8)")
    create = action(report, "create", "queue a report", "framework")
    create.add_argument("--since")
    create.add_argument("--until")
    show = action(report, "show", "a report and its findings", "report_id")
    download = action(report, "download", "the report as a document", "report_id")
    download.add_argument("--format", choices=("pdf", "html", "json"), default="pdf")
    download.add_argument("--output", "-o", type=Path, help="default: REPORT_ID.FORMAT here")
    for sub in (create, show, download):
        sub.add_argument("--wait", action="store_true", help="poll until the report is built, with progress")
        sub.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (default 600)")

    audit_actions = group("audit", "the audit chain (SPEC 5.7, 6)")
    verify = action(audit_actions, "verify", "the gateway's check, or an export's offline with --file")
    verify.add_argument("--file", help="a JSONL export (aidgate logs export) to verify here, offline")
    verify.add_argument("--public-key", help="PEM file of the signing key you trust (aidgate audit public-key)")
    verify.add_argument(
        "--trust-embedded-key",
        action="store_true",
        help="without --public-key, accept the export's own key (proves nothing of its origin)",
    )
    action(audit_actions, "public-key", "the PEM of the key that signs checkpoints")
    return parser


COMMANDS: dict[str, Callable[[AidgateClient, argparse.Namespace, Output], int]] = {
    "agents": agents, "keys": keys, "apps": apps, "policies": policies, "providers": providers, "logs": logs,
    "usage": usage, "reports": reports,
}  # fmt: skip


def exit_code(error: AidgateError) -> int:
    if error.status is None:
        return {"configuration": EXIT_USAGE, "report_failed": EXIT_FAILED_CHECK}.get(error.code, EXIT_UNREACHABLE)
    if error.status >= 500:
        return EXIT_SERVER
    return {401: EXIT_UNAUTHORIZED, 403: EXIT_FORBIDDEN, 404: EXIT_NOT_FOUND}.get(error.status, EXIT_REFUSED)


def error_report(error: AidgateError, as_json: bool) -> None:
    if as_json:
        sys.stderr.write(json.dumps(error.envelope()) + "\n")
        return
    parts = [str(error.status)] if error.status else []
    parts += [error.code] + ([error.reason] if error.reason != error.code else [])
    where = f", request {error.request_id}" if error.request_id else ""
    sys.stderr.write(f"aidgate: {error.message} ({' '.join(parts)}{where})\n")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """The command's exit code (``main`` exits with it)."""
    args = parser_build().parse_args(argv)
    out = Output(as_json=args.json, progress=args.progress)

    def client() -> AidgateClient:
        return AidgateClient(args.url, args.key, timeout=args.timeout, page_size=args.page_size)

    try:
        if args.group == "audit":
            return audit(client, args, out)
        with client() as session:
            return COMMANDS[args.group](session, args, out)
    except AidgateError as error:
        error_report(error, args.json)
        return exit_code(error)
    except UsageError as error:
        sys.stderr.write(f"aidgate: {error}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # `aidgate logs list | head`: the reader has what it wanted.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    main()
