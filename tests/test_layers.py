"""The layers point one way: the kernel (`tracer`) imports no stage and not the command
line; a stage (`edge`, `batcher`, `dispatcher`, `admin`) imports the kernel only, never
another stage nor the command line; only `cli` starts stages. Read from the source (every
import statement, at module level or inside a function), so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

KERNEL = "tracer"
STAGES = ("edge", "batcher", "dispatcher", "admin")
COMMAND_LINE = "cli"
# What each package may import among the project's own packages.
ALLOWED = {
    KERNEL: {KERNEL},
    **{stage: {KERNEL, stage} for stage in STAGES},
    COMMAND_LINE: {KERNEL, COMMAND_LINE, *STAGES},
}
PROJECT = set(ALLOWED)


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level project package, line) of every import in the file at `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PROJECT:
                found.add((top, node.lineno))
    return found


def arrows(package: str) -> list[str]:
    """`file:line imports X` for every import of `package`'s modules that breaks its layer."""
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported, line in sorted(imported_packages(path)):
            if imported not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return wrong


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_points_up_or_across(package: str) -> None:
    assert arrows(package) == []


def test_the_check_sees_a_kernel_module_that_imports_a_stage(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("def later():\n    from edge.app import Edge\n    return Edge\n")
    assert imported_packages(planted) == {("edge", 2)}
