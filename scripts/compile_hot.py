"""Compile the proxy's hot modules (``core.compiled.HOT_MODULES``) with mypyc, in place.

``make compiled`` runs it, and ``make run``, ``make test`` and ``make bench`` depend on that:
each extension lands beside its source (Python imports it first) and the runtime they share
in the core package (``core.aidgate_hot__mypyc``). Temporary files go to ``.local/mypyc``.

Why it may fall back: the gateway is correct without it, only slower. Where mypyc or the C
compiler fails outside CI (``CI`` unset), the extensions are removed and the modules run as
Python, with a warning; under CI a failure fails, so that what CI tests is what ships.
``AIDGATE_COMPILE=false`` skips compiling and removes any extensions (a pure-Python run).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.compiled import HOT_MODULES, compile_enabled, extension_of  # noqa: E402

# Inside the core package: the editable install maps the project's packages, not its root, so a
# runtime at the root would not import from another working directory.
GROUP = "core.aidgate_hot"
BUILD = ROOT / ".local" / "mypyc"
# What make's compiled target waits on: there while the extensions (or the fallback) are current.
STAMP = ROOT / ".local" / "compiled.stamp"


def extensions_remove(root: Path = ROOT) -> None:
    """Every extension in the project's packages, not only the listed modules': one left from a
    longer list would outlive its shared runtime and fail at import."""
    # Not bench/: its results hold the worktrees bench-ab builds, each with its own extensions.
    skipped = {"bench", "tests"}
    packages = [path for path in root.iterdir() if (path / "__init__.py").exists() and path.name not in skipped]
    for package in packages:
        for extension in package.rglob("*.cpython-*.so"):
            extension.unlink()
    for runtime in root.glob("aidgate_hot__mypyc*"):  # where builds before 2026-12-07 20:50 put it
        runtime.unlink()


def compile_all() -> None:
    from mypyc.build import mypycify
    from setuptools import SetuptoolsDeprecationWarning, setup

    # setuptools reads pyproject.toml's [project] too, and warns of its packaging style: not ours to build.
    warnings.filterwarnings("ignore", category=SetuptoolsDeprecationWarning)
    os.chdir(ROOT)
    extensions = mypycify(list(HOT_MODULES), opt_level="3", debug_level="1", group_name=GROUP,
                          target_dir=str(BUILD / "c"))  # fmt: skip
    setup(
        name="aidgate-hot-modules",
        ext_modules=extensions,
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", str(BUILD / "tmp"),
                     "--build-lib", str(BUILD / "lib")],
    )  # fmt: skip


def main() -> int:
    extensions_remove()
    if not compile_enabled():
        # No stamp: the next make builds them again unless it is asked not to as well.
        STAMP.unlink(missing_ok=True)
        print("compile_hot: AIDGATE_COMPILE=false: the hot modules run as Python")
        return 0
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    try:
        compile_all()
    except (Exception, SystemExit) as exc:
        extensions_remove()
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            print(f"compile_hot: compiling the hot modules failed under CI: {exc}", file=sys.stderr)
            return 1
        print(f"compile_hot: warning: not compiled ({exc}); the hot modules run as Python", file=sys.stderr)
        STAMP.touch()  # not tried again at every make; `make compiled` after a change to them does
        return 0
    # An extension rebuilt from unchanged C keeps its old time; it is current with its source.
    for path in HOT_MODULES:
        extension = extension_of(path)
        if extension is not None:
            extension.touch()
    STAMP.touch()
    print(f"compile_hot: {len(HOT_MODULES)} modules compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
