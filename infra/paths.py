"""Filesystem locations the CDK app ships, all anchored to this file so synth works from any directory."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
CORE_LAYER_DIR = REPO_ROOT / "layers" / "core"
MIGRATIONS_DIR = CORE_LAYER_DIR / "python" / "loglens" / "db" / "migrations"
DEPS_LAYER_BUILD_SCRIPT = REPO_ROOT / "layers" / "deps" / "build.py"
DEPS_LAYER_ROOT = REPO_ROOT / "build" / "layers" / "deps"

# Never shipped: bytecode caches and the editable-install metadata pip writes next to the package.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "*.egg-info", "**/*.egg-info"]
# The developer's tools (CLI, local stack, embedded PostgreSQL, demo, eval) live in one folder that no
# Lambda imports; the core layer leaves it out (tests/infra/test_assets.py checks the synthesized asset).
DEVTOOLS_DIR = CORE_LAYER_DIR / "python" / "loglens" / "devtools"
CORE_LAYER_EXCLUDES = [*ASSET_EXCLUDES, "python/loglens/devtools", "python/loglens/__main__.py"]
# The web console's static build (`make console`); synth deploys a page saying how to build it when absent.
CONSOLE_DIST = REPO_ROOT / "clients" / "console" / "dist"
