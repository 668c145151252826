"""The import direction of ARCHITECTURE.md: lower layers never import higher ones."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "model": {"arguments", "deepspeed", "data_utils", "tasks", "train_utils", "engine", "interop"},
    "mpu": {"model", "arguments", "deepspeed", "data_utils", "tasks", "train_utils", "engine"},
    "data_utils": {
        "torch.distributed",
        "model",
        "mpu",
        "arguments",
        "tasks",
        "train_utils",
        "deepspeed",
    },
    "tasks": {"deepspeed", "engine"},
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_down(package):
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders
