"""The pinned sets in requirements/ are one set: what the tests run is what make dev and the layer install."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
SUBSETS = ("local.txt", "layer.txt", "bootstrap.txt")
# The Lambda Python runtime provides these; the layer leaves them out on purpose (layers/deps/build.py).
PROVIDED_BY_RUNTIME = {"boto3"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, set[str]]:
    """name → versions of every `name==version` line (markers and hashes aside).

    A universal lock may pin two versions of one package under different markers (one for Python 3.11,
    one for 3.12 and newer), so a name maps to a set."""
    found: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            found.setdefault(_canonical(match.group(1)), set()).add(match.group(2))
    return found


def requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = _NAME.match(line)
        if match:
            names.add(_canonical(match.group(1)))
    return names


def test_the_lock_pins_something() -> None:
    dev = pins(REQUIREMENTS / "dev.txt")
    assert {"pydantic", "psycopg", "sqlglot", "anthropic", "aws-cdk-lib", "pytest", "uv"} <= set(dev)


@pytest.mark.parametrize("name", SUBSETS)
def test_every_subset_pins_what_the_lock_pins(name: str) -> None:
    dev = pins(REQUIREMENTS / "dev.txt")
    subset = pins(REQUIREMENTS / name)
    assert subset, f"{name} pins nothing"
    differ = {pkg: (versions, dev.get(pkg)) for pkg, versions in subset.items() if not versions <= dev.get(pkg, set())}
    assert not differ, f"{name} disagrees with dev.txt (pin, lock): {differ}; run make lock"


@pytest.mark.parametrize("name", ["dev.txt", *SUBSETS])
def test_every_pin_carries_hashes(name: str) -> None:
    text = (REQUIREMENTS / name).read_text(encoding="utf-8")
    # A requirement is its pin line plus continuation lines up to the next pin or comment.
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    for entry in entries:
        if _PIN.match(entry):
            assert "--hash=sha256:" in entry, f"{name}: {entry.splitlines()[0]} has no hash"


def test_the_layer_ships_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = requirement_names(project["dependencies"]) - PROVIDED_BY_RUNTIME
    recipe = requirement_names((ROOT / "layers" / "deps" / "requirements.in").read_text().splitlines())
    assert runtime == recipe, "layers/deps/requirements.in and pyproject's dependencies differ"
    assert runtime <= set(pins(REQUIREMENTS / "layer.txt"))


def test_the_layer_build_reads_the_locked_layer_pins() -> None:
    build = (ROOT / "layers" / "deps" / "build.py").read_text(encoding="utf-8")
    assert '"requirements" / "layer.txt"' in build and '"--require-hashes"' in build


@pytest.mark.parametrize(
    "path",
    [
        *sorted(REQUIREMENTS.glob("*.txt")),
        ROOT / "package-lock.json",
        ROOT / "clients" / "javascript" / "package-lock.json",
        ROOT / "clients" / "console" / "package-lock.json",
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_lock_files_name_no_package_registry(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        lock = json.loads(text)
        packages = lock.get("packages", {})
        assert not [name for name, meta in packages.items() if "resolved" in meta], "npm recorded download URLs"
        # npm copies each package's funding page into the lock; those name no registry, so they may stay.
        for meta in packages.values():
            meta.pop("funding", None)
        text = json.dumps(lock)
    assert not re.search(r"https?://|--(extra-)?index-url|--find-links|registry\.", text), path.name
