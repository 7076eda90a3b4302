"""The layers contract (DESIGN.md "Layers"), read from the source's imports: the core imports no front-end, and a
front-end imports no other front-end, except the CLI root that registers their commands."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

PACKAGE = REPO / "bridge"
# A front-end is a module or a package of them; everything else in bridge/ is the core.
FRONT_ENDS = {"cli", "compat", "hooks", "mcp", "hosts", "demo", "ui", "gateway"}
ROOT = "cli"  # registers every front-end's commands


def layer(module: str) -> str:
    """'core', or the front-end a dotted bridge module belongs to."""
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:
        return ROOT  # `python -m bridge` is the CLI
    return parts[1] if len(parts) > 1 and parts[1] in FRONT_ENDS else "core"


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """Every bridge module `name` imports, at any depth of its code (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "bridge"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bridge":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules()}
    return found


def test_the_layers_contract_holds():
    broken = []
    for name, path in sorted(modules().items()):
        mine = layer(name)
        for target in sorted(imports(name, path)):
            theirs = layer(target)
            if theirs == "core" or theirs == mine or mine == ROOT:
                continue
            broken.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert not broken, "layers contract broken:\n" + "\n".join(broken)


def test_the_contract_check_catches_a_core_module_importing_a_front_end(tmp_path, monkeypatch):
    assert layer("bridge.protocol") == "core" and layer("bridge.mcp.tools") == "mcp" and layer("bridge.cli") == "cli"
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from bridge.hooks import emit\n")
    assert "bridge.hooks" in imports("bridge.fake", fake)


def test_only_one_module_touches_the_mcp_sdks_internals():
    touching = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")
                      if "_lowlevel_server" in p.read_text() or "mcp.server.stdio" in p.read_text())
    assert touching == ["bridge/mcp/sdk.py"]


@pytest.mark.parametrize("module,heavy", [
    ("bridge.cli", ["mcp", "pydantic", "tomlkit", "anyio", "starlette", "uvicorn", "sse_starlette"]),
    ("bridge.compat", ["mcp", "pydantic", "click.testing"]),
])
def test_a_one_shot_command_does_not_import_the_mcp_sdk(module, heavy):
    code = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
