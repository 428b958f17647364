"""The proxy's hot modules that mypyc compiles to C extensions, and whether the ones loaded are current.

Why compiled: a proxied request's CPU is interpreter-bound, and these modules are the
pipeline's own share of it. Compiled together by mypyc (``scripts/compile_hot.py``, run by
``make venv``'s users ``make run``, ``make test`` and ``make bench``) they take about 8% of a
request's instructions away (docs/performance.md → Decisions). The sources stay the modules'
truth: an extension sits beside its ``.py`` and Python imports the extension first, so an
extension older than its source would run code that is no longer there.
:func:`stale_extensions` names those, and the test suite and the gateway refuse to go on
quietly with one.

What compiling asks of these modules (docs/development.md → Compiled modules): they type-check
under mypy (``[tool.mypy]`` of pyproject.toml), since mypyc enforces declared types at run time;
no interpreted class inherits from a compiled one; and a name a test replaces is a module
variable, not a function (``proxy.policy_enforcement.clock``), since compiled code calls the
functions of its own modules directly.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from pathlib import Path

# Paths from the repository's root, as mypyc takes them.
HOT_MODULES = (
    "core/ids.py",
    "forensics/recorder.py",
    "proxy/agent_identity.py",
    "proxy/asgi_app.py",
    "proxy/authentication.py",
    "proxy/config_cache.py",
    "proxy/config_snapshot.py",
    "proxy/end_user.py",
    "proxy/guardrails.py",
    "proxy/http_io.py",
    "proxy/limit_store.py",
    "proxy/metrics.py",
    "proxy/pipeline.py",
    "proxy/policy_enforcement.py",
    "proxy/policy_resolution.py",
    "proxy/redis_pipe.py",
    "proxy/request_body.py",
    "proxy/request_context.py",
    "proxy/routing.py",
    "proxy/upstream.py",
)
ROOT = Path(__file__).resolve().parent.parent


def compile_enabled() -> bool:
    """``AIDGATE_COMPILE=false`` (or 0, no, off) asks for the hot modules as Python."""
    return os.environ.get("AIDGATE_COMPILE", "true").strip().lower() not in {"0", "false", "no", "off"}


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def extension_of(path: str, root: Path = ROOT) -> Path | None:
    """The compiled extension beside a hot module's source, if one was built."""
    source = root / path
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def stale_extensions(root: Path = ROOT, modules: tuple[str, ...] = HOT_MODULES) -> list[str]:
    """Hot modules whose extension is older than their source: what imports would run is not
    what the source says (``make compiled`` builds them again)."""
    stale = []
    for path in modules:
        extension = extension_of(path, root)
        if extension is not None and extension.stat().st_mtime < (root / path).stat().st_mtime:
            stale.append(path)
    return stale


class StaleExtensions(RuntimeError):
    """A compiled hot module is older than its source."""


def extensions_check(root: Path = ROOT, modules: tuple[str, ...] = HOT_MODULES) -> None:
    """Refuse to run code that is not the source's: a deploy that updated the sources without
    building again (``scripts/compile_hot.py``) would otherwise serve the old code, silently."""
    stale = stale_extensions(root, modules)
    if stale:
        raise StaleExtensions(
            f"compiled modules older than their sources: {', '.join(stale)}; build them again with "
            "`make compiled` (or `python scripts/compile_hot.py`), or remove them with AIDGATE_COMPILE=false"
        )


def compiled_loaded(modules: tuple[str, ...] = HOT_MODULES) -> dict[str, bool]:
    """For each hot module, whether the one Python imports is the compiled extension."""
    loaded = {}
    for path in modules:
        spec = importlib.util.find_spec(module_name(path))
        origin = spec.origin if spec is not None else None
        loaded[module_name(path)] = bool(origin) and not str(origin).endswith(".py")
    return loaded
