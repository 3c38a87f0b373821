"""The third-party layer: built without Docker for the Lambda platform, and small enough to deploy."""

from __future__ import annotations

from typing import Any

from infra.components.deps_layer import load_build_script
from infra.paths import ASSET_EXCLUDES, CORE_LAYER_DIR, FUNCTIONS_DIR

REQUIRED_PACKAGES = (
    "aws_lambda_powertools",
    "psycopg",
    "psycopg_binary",
    "pydantic",
    "pydantic_core",
    "sqlglot",
    "anthropic",
    "slack_sdk",
)


def _shipped_size(path: Any) -> int:
    # What CDK zips for the asset: everything but the excluded caches and install metadata.
    total = 0
    for item in path.rglob("*"):
        parts = item.relative_to(path).parts
        cached = "__pycache__" in parts or item.name.endswith(".pyc")
        if item.is_file() and not cached and not any(p.endswith(".egg-info") for p in parts):
            total += item.stat().st_size
    return total


def test_function_code_and_layers_fit_lambdas_unzipped_limit(deps_layer: Any) -> None:
    # Given the built deps layer, the core layer and the functions folder
    build = load_build_script()
    deps = deps_layer.size_bytes
    core = _shipped_size(CORE_LAYER_DIR)
    code = _shipped_size(FUNCTIONS_DIR)
    total = deps + core + code
    print(
        f"\n[infra] unzipped: deps {deps / 1_048_576:.1f} MiB + core {core / 1_048_576:.2f} MiB + "
        f"functions {code / 1_048_576:.2f} MiB = {total / 1_048_576:.1f} MiB "
        f"of {build.LAMBDA_UNZIPPED_LIMIT_BYTES / 1_048_576:.0f} MiB"
    )
    # Then every function (code + both layers) stays under Lambda's 250 MB, with room to grow
    assert total < build.LAMBDA_UNZIPPED_LIMIT_BYTES * 0.8
    assert "**/__pycache__" in ASSET_EXCLUDES


def test_layer_holds_the_dependencies_for_python_312_on_the_lambda_architecture(deps_layer: Any) -> None:
    site = deps_layer.path / "python"
    present = {item.name for item in site.iterdir()}
    assert set(REQUIRED_PACKAGES) <= present
    # The runtime provides boto3; a copy in the layer would only shadow it.
    assert not {"boto3", "botocore", "s3transfer"} & present
    extensions = [so.name for so in site.rglob("*.so") if "cpython" in so.name]
    assert extensions, "expected compiled wheels (pydantic-core, psycopg-binary)"
    assert all("cpython-312-aarch64-linux-gnu" in name for name in extensions), extensions


def test_a_second_build_with_the_same_recipe_reuses_the_layer(deps_layer: Any) -> None:
    build = load_build_script()
    again = build.build(deps_layer.architecture)
    assert not again.rebuilt
    assert again.seconds < 5
