"""uv.lock is what every install uses (`make run`, `make test`, `.ci/run`): it must say exactly
what pyproject.toml asks for. A dependency added, removed or changed in pyproject.toml without
`make lock` fails here, naming the difference. (tests/test_requirements.py is about the
services a test needs, not packages.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

BASE_DIR = Path(__file__).resolve().parent.parent
HINT = "pyproject.toml and uv.lock disagree: run `make lock` and commit uv.lock (docs/development.md)"

# (name, extras, specifier, marker): one requirement, written the same from either file.
Entry = tuple[str, tuple[str, ...], str, str]


def _entry(name: str, extras, specifier: str, marker: str | None) -> Entry:
    return (
        canonicalize_name(name),
        tuple(sorted(canonicalize_name(extra) for extra in extras or ())),
        str(SpecifierSet(specifier or "")),
        str(Marker(marker)) if marker else "",
    )


def pyproject_requirements(pyproject: dict) -> set[Entry]:
    project = pyproject["project"]
    lines = [(line, None) for line in project.get("dependencies", [])]
    for extra, extra_lines in project.get("optional-dependencies", {}).items():
        lines += [(line, extra) for line in extra_lines]
    entries = set()
    for line, extra in lines:
        requirement = Requirement(line)
        marker = f"extra == '{extra}'" if extra else None
        if requirement.marker is not None:
            marker = f"({requirement.marker}) and {marker}" if marker else str(requirement.marker)
        entries.add(_entry(requirement.name, requirement.extras, str(requirement.specifier), marker))
    return entries


def lock_project(lock: dict, name: str) -> dict:
    [package] = [p for p in lock["package"] if p["name"] == name and "editable" in p.get("source", {})]
    return package


def lock_requirements(package: dict) -> set[Entry]:
    return {
        _entry(item["name"], item.get("extras"), item.get("specifier", ""), item.get("marker"))
        for item in package.get("metadata", {}).get("requires-dist", [])
    }


def test_the_lock_holds_exactly_the_dependencies_of_pyproject():
    pyproject = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
    lock = tomllib.loads((BASE_DIR / "uv.lock").read_text())
    package = lock_project(lock, pyproject["project"]["name"])

    wanted, locked = pyproject_requirements(pyproject), lock_requirements(package)
    assert sorted(wanted - locked) == [], f"{HINT}; only in pyproject.toml (as printed)"
    assert sorted(locked - wanted) == [], f"{HINT}; only in uv.lock (as printed)"
    extras = sorted(package.get("metadata", {}).get("provides-extras", []))
    assert extras == sorted(pyproject["project"].get("optional-dependencies", {})), HINT
    assert lock["requires-python"] == pyproject["project"]["requires-python"], HINT


def test_every_locked_package_has_a_hash_to_check():
    lock = tomllib.loads((BASE_DIR / "uv.lock").read_text())

    unhashed = [
        package["name"]
        for package in lock["package"]
        if "editable" not in package.get("source", {})
        and not all(f.get("hash") for f in [*package.get("wheels", []), *filter(None, [package.get("sdist")])])
    ]
    assert unhashed == []


# A project and its lock in sync, as uv writes them: what the cases below change one thing of.
PYPROJECT = """
[project]
name = "demo"
requires-python = ">=3.12"
dependencies = ["django>=6.0,<6.2", "psycopg[pool,binary]>=3.2", "uvloop>=0.21; sys_platform != 'win32'"]
[project.optional-dependencies]
dev = ["pytest>=8.3", "pypdf>=5.0"]
"""
LOCK = """
version = 1
requires-python = ">=3.12"
[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }
[package.metadata]
requires-dist = [
    { name = "django", specifier = ">=6.0,<6.2" },
    { name = "psycopg", extras = ["binary", "pool"], specifier = ">=3.2" },
    { name = "pypdf", marker = "extra == 'dev'", specifier = ">=5.0" },
    { name = "pytest", marker = "extra == 'dev'", specifier = ">=8.3" },
    { name = "uvloop", marker = "sys_platform != 'win32'", specifier = ">=0.21" },
]
provides-extras = ["dev"]
"""


def differences(pyproject_text: str) -> tuple[set[Entry], set[Entry]]:
    wanted = pyproject_requirements(tomllib.loads(pyproject_text))
    locked = lock_requirements(lock_project(tomllib.loads(LOCK), "demo"))
    return wanted - locked, locked - wanted


def test_a_lock_that_uv_wrote_for_the_project_agrees():
    assert differences(PYPROJECT) == (set(), set())


def test_it_names_a_dependency_added_to_pyproject_alone():
    added = PYPROJECT.replace('"uvloop', '"prometheus-client>=0.21", "uvloop')

    assert differences(added) == ({("prometheus-client", (), ">=0.21", "")}, set())


def test_it_names_a_changed_bound_and_a_dev_dependency_removed():
    changed = PYPROJECT.replace("<6.2", "<6.3").replace(', "pypdf>=5.0"', "")

    only_pyproject, only_lock = differences(changed)
    assert only_pyproject == {("django", (), "<6.3,>=6.0", "")}
    assert only_lock == {("django", (), "<6.2,>=6.0", ""), ("pypdf", (), ">=5.0", 'extra == "dev"')}
