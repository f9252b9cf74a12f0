"""The house rules the import graph must keep (STYLE.md), checked by parsing the modules."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tweetsent"
LEAVES = {"errors", "backprop/autograd", "util/files", "util/paths", "util/console"}  # import nothing from the package


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tweetsent":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tweetsent"}
    return found


def test_leaf_modules_import_nothing_from_the_package():
    for name in LEAVES:
        assert _imports(PACKAGE / f"{name}.py") == set(), name


def test_no_module_imports_the_package_root():
    for path in PACKAGE.rglob("*.py"):
        assert "tweetsent" not in _imports(path), f"{path.name} imports the package root; import the submodule"


def test_every_public_module_declares_all():
    for path in PACKAGE.rglob("*.py"):
        if path.name.startswith("_") and path.name not in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
        names |= {node.target.id for node in tree.body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
        assert "__all__" in names, f"{path.name} has no __all__"


def test_torch_load_is_never_unsafe():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                    getattr(node.func.value, "id", "") == "torch":
                kwargs = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                assert kwargs.get("weights_only") is True, f"{path.name}: torch.load without weights_only=True"
