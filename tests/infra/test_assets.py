"""What the Lambdas ship: the synthesized code asset and core layer hold no developer tools."""

from __future__ import annotations

import ast
from pathlib import Path

import aws_cdk as cdk

from infra.components.functions import FunctionKit
from infra.config import load_config_from_cdk_json
from infra.paths import CORE_LAYER_DIR, DEVTOOLS_DIR, FUNCTIONS_DIR

# Dev-only code by name: the devtools package and the modules that used to live outside it.
DEV_ONLY = ("devtools", "demo.py", "embedded.py", "eval.py", "cli", "local")


def _staged_assets(tmp_path: Path) -> dict[str, Path]:
    """Synthesize one stack's FunctionKit with asset staging on; return its staged asset folders by role."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Assets")
    kit = FunctionKit(stack, "FunctionKit", config=load_config_from_cdk_json("dev"))
    kit.code.bind(stack)  # the functions' code asset is staged when a function first uses it
    assembly = app.synth()
    staged: dict[str, Path] = {}
    for item in Path(assembly.directory).glob("asset.*"):
        if (item / "collect.py").is_file():
            staged["functions"] = item
        elif (item / "python" / "loglens").is_dir():
            staged["core"] = item
    return staged


def test_synthesized_lambda_assets_hold_no_developer_tools(deps_layer: object, tmp_path: Path) -> None:
    # Given the code asset and the core layer as CDK stages them for upload
    staged = _staged_assets(tmp_path)
    assert set(staged) == {"core", "functions"}
    core = staged["core"] / "python" / "loglens"
    # Then the core is there, and none of the developer's tools are
    assert (core / "record.py").is_file() and (core / "lifecycle" / "archive" / "run.py").is_file()
    shipped = [p.relative_to(staged["core"]) for p in staged["core"].rglob("*")]
    leaked = [str(p) for p in shipped if any(part in DEV_ONLY for part in p.parts)]
    assert not leaked, f"dev-only code in the core layer: {leaked[:10]}"
    assert not [p for p in staged["functions"].rglob("*") if p.name in DEV_ONLY]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_nothing_a_lambda_imports_reaches_into_devtools() -> None:
    # Lazily or not: a Lambda importing loglens.devtools would fail at run time, since the layer lacks it.
    shipped = [*FUNCTIONS_DIR.glob("*.py")]
    shipped += [
        p
        for p in (CORE_LAYER_DIR / "python" / "loglens").rglob("*.py")
        if DEVTOOLS_DIR not in p.parents and p.name != "__main__.py"  # `python -m loglens` is the CLI
    ]
    offenders = {
        str(p.relative_to(CORE_LAYER_DIR.parent.parent)): sorted(m for m in _imports(p) if "devtools" in m)
        for p in shipped
    }
    assert not {k: v for k, v in offenders.items() if v}
