"""Finding the third-party layer that layers/deps/build.py built, and refusing a stale one.

The CDK app never runs pip itself: synth stays offline and deterministic. cdk.json's ``build``
hook (and ``make synth``) run the build script first; if the layer is missing or was built from
another recipe, the synth stops here and says which command fixes it.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from infra.paths import DEPS_LAYER_BUILD_SCRIPT, REPO_ROOT


class DepsLayerNotBuilt(RuntimeError):
    """build/layers/deps does not hold a layer for the current recipe and architecture."""


@functools.cache
def load_build_script() -> ModuleType:
    name = "loglens_deps_layer_build"
    spec = importlib.util.spec_from_file_location(name, DEPS_LAYER_BUILD_SCRIPT)
    if spec is None or spec.loader is None:
        raise DepsLayerNotBuilt(f"cannot load {DEPS_LAYER_BUILD_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def deps_layer_dir(architecture: str) -> Path:
    build = load_build_script()
    if not build.is_current(architecture):
        script = DEPS_LAYER_BUILD_SCRIPT.relative_to(REPO_ROOT)
        raise DepsLayerNotBuilt(
            f"the {architecture} dependencies layer is missing or out of date; run: "
            f".venv/bin/python {script} --arch {architecture}"
        )
    path = build.layer_dir(architecture)
    assert isinstance(path, Path)
    return path
