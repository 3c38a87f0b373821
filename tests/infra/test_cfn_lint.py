"""cfn-lint on every synthesized template: no errors; warnings only those listed here, each with its reason."""

from __future__ import annotations

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from tests.infra.conftest import Synthesized

IGNORED_WARNINGS = {
    "W3005": (
        "CDK adds an explicit DependsOn from each Lambda function to the execution role it also references "
        "with Fn::GetAtt; redundant, harmless, and not ours to remove"
    ),
}


@pytest.mark.parametrize(
    "part", ["network", "data", "lake", "ingest", "maintenance", "analysis", "console", "observability"]
)
def test_template_passes_cfn_lint(synthesized: Synthesized, part: str) -> None:
    stack = next(s for s in synthesized.loglens.stacks if s.stack_name.endswith(f"-{part}"))
    template = synthesized.outdir / f"{stack.artifact_id}.template.json"
    matches = lint_file(template, config=ManualArgs(regions=[synthesized.loglens.config.region]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    warnings = [m for m in matches if m.rule.id.startswith("W") and m.rule.id not in IGNORED_WARNINGS]
    assert not errors, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in errors)
    assert not warnings, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in warnings)
