"""The import direction of docs/architecture.md: lower layers never import higher ones.

entry scripts  ->  training  ->  tasks, interop  ->  checkpoint_io, data_utils, model  ->  mpu
common (standard library only) is importable from everywhere and imports nothing of ours.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENTRY_SCRIPTS = {
    "pretrain_glm",
    "finetune_glm",
    "generate_samples",
    "change_mp",
    "serve_glm",
    "lm_eval_glm",
}
OURS = {
    "checkpoint_io", "common", "data_utils", "interop", "model", "mpu", "tasks", "training",
} | ENTRY_SCRIPTS  # fmt: skip

FORBIDDEN = {
    "common": OURS - {"common"},
    "mpu": OURS - {"mpu", "common"} | {"deepspeed"},
    "model": OURS - {"model", "mpu", "common"} | {"deepspeed"},
    "data_utils": OURS - {"data_utils", "common"} | {"torch.distributed", "deepspeed"},
    "checkpoint_io": OURS - {"checkpoint_io", "common", "mpu", "model"},
    "tasks": OURS - {"tasks", "common", "mpu", "model", "data_utils", "checkpoint_io"}
    | {"deepspeed"},
    "interop": OURS - {"interop", "common", "mpu", "model", "data_utils", "checkpoint_io"},
    "training": ENTRY_SCRIPTS | {"interop"},
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


def test_the_root_holds_only_entry_points():
    modules = {path.stem for path in REPO.glob("*.py")}
    assert modules <= ENTRY_SCRIPTS, sorted(modules - ENTRY_SCRIPTS)


FAMILIES = ("superglue", "seq2seq", "language_model")


@pytest.mark.parametrize("family", FAMILIES)
def test_task_families_do_not_import_each_other(family):
    others = [f"tasks.{other}" for other in FAMILIES if other != family]
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / "tasks" / family).rglob("*.py"))
        for name in _imports(path)
        if any(name == o or name.startswith(o + ".") for o in others)
    ]
    assert not offenders, offenders
