"""The proxy's hot modules run compiled by mypyc, and never older than their sources."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import time
from pathlib import Path

import pytest

from core.compiled import (
    HOT_MODULES,
    StaleExtensions,
    compile_enabled,
    compiled_loaded,
    extensions_check,
    stale_extensions,
)


def test_every_hot_module_runs_compiled_as_make_test_builds_it():
    # What the suite tests is what ships: `make test` compiles them first (AIDGATE_COMPILE=false
    # is the one way to a pure-Python run, and says so).
    if not compile_enabled():
        assert not any(compiled_loaded().values())
    else:
        loaded = compiled_loaded()
        assert sorted(name for name, compiled in loaded.items() if not compiled) == []
        assert len(loaded) == len(HOT_MODULES)


def _module(root, name: str, *, extension_age: float | None) -> str:
    source = root / "pkg" / f"{name}.py"
    source.parent.mkdir(exist_ok=True)
    source.write_text("X = 1\n")
    if extension_age is not None:
        extension = source.with_name(name + importlib.machinery.EXTENSION_SUFFIXES[0])
        extension.write_bytes(b"")
        when = time.time() - extension_age
        os.utime(extension, (when, when))
        os.utime(source, (time.time(), time.time()))
    return f"pkg/{name}.py"


def test_an_extension_older_than_its_source_stops_the_run(tmp_path):
    stale = _module(tmp_path, "edited", extension_age=60)
    current = _module(tmp_path, "current", extension_age=-60)
    plain = _module(tmp_path, "plain", extension_age=None)
    modules = (stale, current, plain)

    assert stale_extensions(tmp_path, modules) == [stale]
    with pytest.raises(StaleExtensions, match=r"pkg/edited\.py.*make compiled"):
        extensions_check(tmp_path, modules)
    extensions_check(tmp_path, (current, plain))  # nothing stale: no error


def test_a_build_first_removes_every_extension_a_longer_list_left(tmp_path):
    # A module dropped from the list keeps an extension bound to the old shared runtime, and
    # importing it fails; bench-ab's worktrees under bench/ keep theirs.
    spec = importlib.util.spec_from_file_location(
        "compile_hot", Path(__file__).parent.parent / "scripts" / "compile_hot.py"
    )
    compile_hot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compile_hot)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for package in ("proxy", "proxy/adapters", "bench"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    dropped = tmp_path / "proxy" / "adapters" / f"sse{suffix}"
    runtime = tmp_path / f"aidgate_hot__mypyc{suffix}"  # where earlier builds left it
    worktree = tmp_path / "bench" / "results" / "ab-1" / "proxy" / f"pipeline{suffix}"
    worktree.parent.mkdir(parents=True)
    for path in (dropped, runtime, worktree):
        path.write_bytes(b"")

    compile_hot.extensions_remove(tmp_path)

    assert not dropped.exists()
    assert not runtime.exists()
    assert worktree.exists()
