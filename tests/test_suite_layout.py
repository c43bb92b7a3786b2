"""The suite shares fixtures through pytest, not through imports: no module of `tests/`
imports a conftest module or imports a fixture function (the `# noqa: F401 (fixtures)`
pattern), and a conftest holds fixtures and hooks only, never helpers that tests would
have to import from it. Shared fixtures are plugins (`tests/fixtures/`) registered once in
`tests/conftest.py`; helpers are ordinary modules (`tests/support.py`, `*/helpers.py`).
Read from the source, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

FIXTURE_DECORATORS = {"pytest.fixture", "pytest_asyncio.fixture", "fixture"}
# What a conftest may define at its top level besides fixtures and `pytest_*` hooks.
CONFTEST_NAMES = {"pytest_plugins"}


def module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target)


def is_fixture(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
        decorator_name(d) in FIXTURE_DECORATORS for d in node.decorator_list
    )


def fixture_functions(tree: ast.Module) -> set[str]:
    """Names of the module's fixture functions (what an import of a fixture names)."""
    return {node.name for node in tree.body if is_fixture(node)}


def imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, str, ast.stmt]]:
    """(imported module, imported name or "", statement) for every import in the tree,
    relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(base, alias.name, node) for alias in node.names]
    return found


def conftest_helpers(tree: ast.Module) -> list[tuple[str, int]]:
    """(name, line) of what a conftest defines besides fixtures, hooks and pytest_plugins."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if not (is_fixture(node) or node.name.startswith("pytest_")):
                found.append((node.name, node.lineno))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = ast.unparse(target)
                if name not in CONFTEST_NAMES:
                    found.append((name, node.lineno))
    return found


def violations(root: Path) -> list[str]:
    """`file:line what` for every break of the layout among the `.py` files under
    `root/tests` (`root` is where the `tests` package sits)."""
    parsed = {}
    for path in sorted((root / "tests").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        parsed[module_of(path, root)] = (path, source, ast.parse(source, str(path)))
    fixtures = {module: fixture_functions(tree) for module, (_, _, tree) in parsed.items()}
    wrong: set[tuple[Path, int, str]] = set()
    for module, (path, source, tree) in parsed.items():
        where = path.relative_to(root)
        for imported, name, node in imports(tree, module, path.name == "__init__.py"):
            full = f"{imported}.{name}" if name else imported
            if "conftest" in full.split("."):
                wrong.add((where, node.lineno, f"imports the conftest module {full}"))
            elif name in fixtures.get(imported, ()):
                wrong.add((where, node.lineno, f"imports the fixture {full}"))
            elif "noqa: F401" in statement_lines(source, node):
                what = f"silences F401 on an import from {imported} (to make a fixture visible?)"
                wrong.add((where, node.lineno, what))
        if path.name == "conftest.py":
            for name, line in conftest_helpers(tree):
                wrong.add((where, line, f"defines {name} in a conftest (not a fixture)"))
    return [f"{where}:{line} {what}" for where, line, what in sorted(wrong)]


def statement_lines(source: str, node: ast.stmt) -> str:
    """The statement's lines as written, comments included (where a `# noqa` sits)."""
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno or node.lineno]
    return "\n".join(lines)


def test_no_test_module_imports_a_conftest_or_a_fixture() -> None:
    assert violations(ROOT) == []


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"tests/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return root


PLUGIN = """import pytest


@pytest.fixture(name="cluster")
def cluster_fixture():
    return 1
"""


def test_the_check_sees_an_import_from_a_conftest(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "tests/edge/conftest.py": "import pytest\n",
            "tests/test_a.py": "def test():\n    from tests.edge.conftest import fetch\n",
            "tests/edge/test_b.py": "from . import conftest\n",
            "tests/edge/test_c.py": "from .conftest import fetch\n",
            "tests/test_d.py": "import tests.edge.conftest\n",
        },
    )
    assert violations(root) == [
        "tests/edge/test_b.py:1 imports the conftest module tests.edge.conftest",
        "tests/edge/test_c.py:1 imports the conftest module tests.edge.conftest.fetch",
        "tests/test_a.py:2 imports the conftest module tests.edge.conftest.fetch",
        "tests/test_d.py:1 imports the conftest module tests.edge.conftest",
    ]


def test_the_check_sees_a_fixture_imported_to_make_it_visible(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "tests/cluster.py": PLUGIN,
            # Imported under its function's name, with or without the noqa comment.
            "tests/test_a.py": "from tests.cluster import cluster_fixture  # noqa: F401\n",
            "tests/test_b.py": "from tests.cluster import (\n    cluster_fixture,\n)\n",
            # Any unused import silenced in the suite, even of a module not under tests/.
            "tests/test_c.py": "from redis import (  # noqa: F401  (fixtures)\n    Redis,\n)\n",
        },
    )
    assert violations(root) == [
        "tests/test_a.py:1 imports the fixture tests.cluster.cluster_fixture",
        "tests/test_b.py:1 imports the fixture tests.cluster.cluster_fixture",
        "tests/test_c.py:1 silences F401 on an import from redis (to make a fixture visible?)",
    ]


def test_the_check_sees_a_helper_defined_in_a_conftest(tmp_path: Path) -> None:
    conftest = [
        'pytest_plugins = ["tests.cluster"]',
        "SHARDS = 4",
        "def pytest_configure(config): pass",
        "def fetch(): pass",
        "class Reply: pass",
    ]
    root = plant(tmp_path, {"tests/conftest.py": PLUGIN + "\n".join(conftest) + "\n"})
    assert violations(root) == [
        "tests/conftest.py:8 defines SHARDS in a conftest (not a fixture)",
        "tests/conftest.py:10 defines fetch in a conftest (not a fixture)",
        "tests/conftest.py:11 defines Reply in a conftest (not a fixture)",
    ]


def test_the_suite_as_it_stands_would_be_seen_with_one_planted_import(tmp_path: Path) -> None:
    """The real suite plus one test module that imports a real fixture: exactly that one
    import is reported (the check reads the real plugins, not just planted ones)."""
    for path in (ROOT / "tests").rglob("*.py"):
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text(encoding="utf-8"))
    planted = "from tests.fixtures.redis_cluster import redis_cluster_fixture  # noqa: F401\n"
    (tmp_path / "tests" / "test_planted.py").write_text(planted)
    assert violations(tmp_path) == [
        "tests/test_planted.py:1 imports the fixture "
        "tests.fixtures.redis_cluster.redis_cluster_fixture"
    ]
