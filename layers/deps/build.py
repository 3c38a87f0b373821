"""Build the third-party dependencies Lambda layer without Docker.

pip downloads manylinux wheels for CPython 3.12 and the Lambda architecture (arm64 by default, taken
from the stage configuration in cdk.json) straight into ``build/layers/deps/<arch>/python``, which is
the folder the CDK app ships as the layer. The versions and hashes are ``requirements/layer.txt``, a
subset of the lock the tests run (``make lock``; ``tests/unit/test_lock.py`` keeps them equal), and pip
checks every hash (``--require-hashes``). No source builds (``--only-binary=:all:``), so the host's
compiler, libc and Python version never leak into the layer.

A stamp beside the output records a hash of the recipe; a later run with the same recipe reuses the
layer without touching the network, which keeps ``cdk synth`` offline after the first build.

    python layers/deps/build.py                 # the architectures of every stage in cdk.json
    python layers/deps/build.py --arch x86_64   # one architecture
    python layers/deps/build.py --force         # rebuild even if the stamp matches
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
REQUIREMENTS = REPO_ROOT / "requirements" / "layer.txt"
OUTPUT_ROOT = REPO_ROOT / "build" / "layers" / "deps"
PYTHON_VERSION = "3.12"
ARCHITECTURES = ("arm64", "x86_64")
# Amazon Linux 2023 (the python3.12 runtime) has glibc 2.34, so all of these load there.
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
}
# The runtime ships these; a second copy in the layer would only shadow it and cost space.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath")
# Bump when build() changes what ends up in the layer, so existing builds are redone.
RECIPE_VERSION = 3
# Lambda's limit for the function code and all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000


@dataclass(frozen=True)
class LayerBuild:
    architecture: str
    path: Path
    size_bytes: int
    seconds: float
    rebuilt: bool


def layer_dir(architecture: str) -> Path:
    """The folder the CDK ships as the layer (it contains ``python/``)."""
    return OUTPUT_ROOT / architecture


def stamp_path(architecture: str) -> Path:
    return OUTPUT_ROOT / f"{architecture}.stamp.json"


def recipe_hash(architecture: str) -> str:
    """Changes whenever the layer's content could: requirements, target platform, pruning or RECIPE_VERSION."""
    recipe = {
        "requirements": REQUIREMENTS.read_text(encoding="utf-8"),
        "architecture": architecture,
        "platforms": PLATFORMS[architecture],
        "python": PYTHON_VERSION,
        "builder": f"{sys.version_info.major}.{sys.version_info.minor}",  # bytecode only from the same version
        "pruned": PROVIDED_BY_RUNTIME,
        "version": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def is_current(architecture: str) -> bool:
    stamp = stamp_path(architecture)
    if not stamp.is_file() or not (layer_dir(architecture) / "python").is_dir():
        return False
    recorded = json.loads(stamp.read_text(encoding="utf-8"))
    return bool(recorded.get("recipe") == recipe_hash(architecture))


def unzipped_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def _prune(site: Path) -> None:
    for name in PROVIDED_BY_RUNTIME:
        for match in [*site.glob(name), *site.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(match)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(site / "bin", ignore_errors=True)


def _compile_bytecode(site: Path) -> None:
    """Ship bytecode when this interpreter is the runtime's version: Lambda's /opt is read-only, so without
    it every cold start compiles what it imports (2-3x the import time). The hash-checked, unchecked mode
    makes the .pyc files valid whatever the files' timestamps become in the zip. Another version's bytecode
    would be ignored by the runtime, so none is written then."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        print(
            f"deps layer: no bytecode (this is Python {sys.version_info.major}.{sys.version_info.minor}; "
            f"the runtime is {PYTHON_VERSION}: build with {PYTHON_VERSION} to ship it)"
        )
        return
    import compileall
    import py_compile

    compileall.compile_dir(
        site, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def build(architecture: str, *, force: bool = False) -> LayerBuild:
    if architecture not in PLATFORMS:
        raise SystemExit(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    started = time.monotonic()
    target = layer_dir(architecture)
    if not force and is_current(architecture):
        return LayerBuild(architecture, target, unzipped_size(target), time.monotonic() - started, False)

    shutil.rmtree(target, ignore_errors=True)
    stamp_path(architecture).unlink(missing_ok=True)
    site = target / "python"
    site.mkdir(parents=True)
    platform_args = [arg for platform in PLATFORMS[architecture] for arg in ("--platform", platform)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(site),
        *platform_args,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--require-hashes",
        "--requirement",
        str(REQUIREMENTS),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed argument list, no shell
    _prune(site)
    _compile_bytecode(site)
    stamp_path(architecture).write_text(
        json.dumps({"recipe": recipe_hash(architecture), "architecture": architecture}, indent=2) + "\n",
        encoding="utf-8",
    )
    return LayerBuild(architecture, target, unzipped_size(target), time.monotonic() - started, True)


def configured_architectures() -> list[str]:
    """Every architecture some stage in cdk.json deploys, so the CDK app finds its layer whatever the stage."""
    sys.path.insert(0, str(REPO_ROOT))
    from infra.config import load_config_from_cdk_json

    context = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    stages = sorted(context["loglens"]["stages"])
    return sorted({load_config_from_cdk_json(stage).functions.architecture for stage in stages})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHITECTURES, action="append", help="default: those cdk.json uses")
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    args = parser.parse_args(argv)
    for architecture in args.arch or configured_architectures():
        result = build(architecture, force=args.force)
        verb = "built" if result.rebuilt else "up to date"
        print(
            f"deps layer ({architecture}) {verb}: {result.size_bytes / 1_048_576:.1f} MiB unzipped "
            f"in {result.seconds:.1f}s at {result.path.relative_to(REPO_ROOT)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
