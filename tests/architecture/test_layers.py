"""The layers of docs/architecture.md hold, and the check that holds them really catches a
break: an import against the layers fails ``lint-imports`` (run by ``make check``) even from
inside a function."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = CONTRACTS["root_packages"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def layered_copy(tmp_path: Path) -> Path:
    """The first-party packages and the contract, where a test may break them."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_against_the_layers_inside_a_function_fails_the_check(tmp_path):
    copy = layered_copy(tmp_path)
    with (copy / "core" / "ids.py").open("a") as module:
        module.write("\n\ndef _reach_up():\n    from keys import models  # noqa\n\n    return models\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "core is not allowed to import keys" in result.stdout
    assert "core.ids -> keys.models" in result.stdout


def test_a_cycle_between_the_modules_of_a_package_fails_the_check(tmp_path):
    copy = layered_copy(tmp_path)
    with (copy / "keys" / "rules.py").open("a") as module:
        module.write("\n\nfrom keys.models import Key  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "No cycles are allowed in keys" in result.stdout


def test_the_client_importing_the_gateway_or_django_fails_the_check(tmp_path):
    copy = layered_copy(tmp_path)
    with (copy / "aidgate" / "client.py").open("a") as module:
        module.write("\n\nfrom core import ids  # noqa\nimport django.conf  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "aidgate.client -> core.ids" in result.stdout
    assert "aidgate.client -> django" in result.stdout


def test_the_client_loads_without_django():
    """The command runs where only the client is installed (docs/cli.md)."""
    code = (
        "import sys\n"
        "import aidgate.cli\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('django'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _imports_inside_functions(path: Path) -> list[tuple[str, str]]:
    found = []
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            found += [(function.name, module) for module in modules if module.split(".")[0] in PACKAGES]
    return found


def test_no_first_party_import_hides_in_a_function_but_django_s_ready():
    """An import made at run time is how a model change used to reach the hot path unseen."""
    hidden = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            imports = [(f, m) for f, m in _imports_inside_functions(path) if f != "ready" or path.name != "apps.py"]
            if imports:
                hidden[str(path.relative_to(ROOT))] = imports
    assert hidden == {}


def test_the_hot_path_s_adapters_and_snapshots_load_without_django():
    """Provider kinds, default URLs and the adapters are plain modules: importing them sets up
    no ORM and needs no settings."""
    code = (
        "import sys\n"
        "import providers.kinds, proxy.adapters.registry, proxy.config_snapshot\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('django.db', 'django.apps', 'django.conf')))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_architecture_doc_draws_the_layers_of_the_contract():
    layers = next(c["layers"] for c in CONTRACTS["contracts"] if c["type"] == "layers")
    doc = (ROOT / "docs" / "architecture.md").read_text()
    diagram = doc.split("## Layers", 1)[1].split("```", 2)[1]
    drawn = [re.split(r"\s{2,}", line.strip())[0] for line in diagram.splitlines() if re.match(r"^\s*[a-z]", line)]
    assert [re.sub(r"\s*\|\s*", " | ", line) for line in drawn] == layers
    for package in PACKAGES:
        assert f"| `{package}` |" in doc, f"the layers table of docs/architecture.md has no row for {package}"
