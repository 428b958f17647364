"""The benchmark's versions line says how the gateway's CPython was built, because that moves
its CPU per request; ``scripts/build-optimised-python`` refuses a source that is not the
release it pins."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

from bench.run_bench import build_description, interpreter_build

REPO = Path(__file__).resolve().parents[2]


def test_pyenv_default_build_is_described_as_unoptimised():
    args = "'--prefix=/root/.pyenv/versions/3.12.1' '--enable-shared' '--libdir=/root/.pyenv/versions/3.12.1/lib'"
    assert build_description(args, "-std=c11 -Werror=implicit-function-declaration", shared=True) == (
        "no PGO + no LTO + shared libpython"
    )


def test_optimised_build_is_described_as_such():
    args = "'--prefix=/opt/aidgate-python' '--enable-optimizations' '--with-lto'"
    assert build_description(args, "-std=c11 -flto -fuse-linker-plugin", shared=False) == (
        "PGO + LTO + static libpython"
    )


def test_the_venv_interpreter_is_probed():
    expected = build_description(
        sysconfig.get_config_var("CONFIG_ARGS") or "",
        sysconfig.get_config_var("PY_CFLAGS_NODIST") or "",
        shared=bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),
    )
    assert interpreter_build() == expected


def test_build_script_refuses_a_source_with_another_checksum(tmp_path):
    source = tmp_path / "python.tar.xz"
    source.write_bytes(b"not the release")
    prefix = tmp_path / "prefix"
    env = {**os.environ, "PYTHON_SOURCE_URL": source.as_uri(), "PYTHON_PREFIX": str(prefix)}
    done = subprocess.run(
        [str(REPO / "scripts" / "build-optimised-python")], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "FAILED" in done.stderr + done.stdout
    assert not prefix.exists()
