"""The regimen package must stay pure: no AWS SDK, no persistence, no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "layers" / "core" / "lemtrada" / "regimen"
CORE = PACKAGE.parent.parent
FORBIDDEN = ("boto3", "botocore", "pynamodb", "aws_lambda_powertools", "moto", "aiobotocore", "s3transfer")
ALLOWED_IMPORTS = {
    "__future__",
    "bisect",
    "collections",
    "collections.abc",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "math",
    "operator",
    "typing",
    "dateutil.relativedelta",
}
IO_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
MODULES = sorted(PACKAGE.glob("*.py"))


def test_package_has_modules() -> None:
    assert len(MODULES) >= 8


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_only_the_standard_library_and_dateutil(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.startswith("lemtrada.regimen") or name in ALLOWED_IMPORTS, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_calls_no_io_builtin(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not calls & IO_CALLS


def test_imports_with_aws_modules_blocked() -> None:
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        FORBIDDEN = {FORBIDDEN!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in FORBIDDEN:
                    raise ImportError("blocked: " + name)
                return None
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(CORE)!r})
        import lemtrada.regimen as regimen
        import pkgutil, importlib
        for info in pkgutil.iter_modules(regimen.__path__):
            importlib.import_module("lemtrada.regimen." + info.name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        assert not loaded, loaded
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
