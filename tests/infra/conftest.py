"""One synthesis of the whole app per test session: synth is the slow part, the assertions are cheap.

The deps layer is built first (or reused when build/layers/deps holds a build of the same recipe);
the session prints how long that took and how big it is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before jsii starts its Node process: Node 20 still runs jsii, it just warns loudly.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.app import LoglensApp, build_app
from infra.components.deps_layer import load_build_script
from infra.paths import REPO_ROOT


@dataclass(frozen=True)
class Synthesized:
    app: cdk.App
    loglens: LoglensApp
    outdir: Path
    templates: dict[str, Template]  # by stack part: network, data, ingest, ...
    raw: dict[str, dict[str, Any]]  # the same templates as plain JSON
    seconds: float

    def all_resources(self, resource_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(stack part, logical id, resource) for every resource of a type across the app."""
        found = []
        for part, template in self.raw.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == resource_type:
                    found.append((part, logical_id, resource))
        return found


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return context


@pytest.fixture(scope="session")
def deps_layer() -> Any:
    build = load_build_script()
    architecture = "arm64"
    result = build.build(architecture)
    verb = "built" if result.rebuilt else "reused"
    print(f"\n[infra] deps layer {verb} in {result.seconds:.1f}s: {result.size_bytes / 1_048_576:.1f} MiB unzipped")
    return result


@pytest.fixture(scope="session")
def synthesized(deps_layer: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(cdk_json_context(), tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_with_egress(deps_layer: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The default stage with internet_egress on: the NAT for ask, and the Slack route that needs it."""
    context = cdk_json_context()
    context["loglens"]["stages"][context["stage"]]["internet_egress"] = True
    yield synthesize(context, tmp_path_factory.mktemp("cdk.out.egress"))


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    # Templates are all we inspect; leave assets where they are instead of copying them into outdir.
    context["aws:cdk:disable-asset-staging"] = True
    started = time.monotonic()
    app = cdk.App(context=context, outdir=str(outdir))
    loglens = build_app(app, nag=False)  # tests/infra/test_nag.py runs the pack on this same tree
    app.synth()
    seconds = time.monotonic() - started
    print(f"\n[infra] synthesized {len(loglens.stacks)} stacks in {seconds:.1f}s")
    parts = {stack.stack_name.removeprefix(f"loglens-{loglens.config.stage}-"): stack for stack in loglens.stacks}
    raw = {
        part: json.loads((outdir / f"{stack.artifact_id}.template.json").read_text(encoding="utf-8"))
        for part, stack in parts.items()
    }
    templates = {part: Template.from_json(template) for part, template in raw.items()}
    return Synthesized(app, loglens, outdir, templates, raw, seconds)
