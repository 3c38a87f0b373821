"""cdk-nag's AwsSolutions pack on the synthesized tree: nothing unacknowledged, every acknowledgment reasoned."""

from __future__ import annotations

from typing import Any

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from tests.infra.conftest import Synthesized


def _acknowledgments(root: IConstruct) -> list[tuple[str, str, str]]:
    """(construct path, rule, reason) for every acknowledgment in the tree."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key and isinstance(entry.data, dict):
                for rule, reason in entry.data.items():
                    found.append((construct.node.path, str(rule), str(reason)))
    return found


def test_aws_solutions_reports_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    # Given the app's construct tree (the same one app.py validates during `cdk synth`)
    report: Any = AwsSolutionsChecks().validate_scope(synthesized.app)
    # Then no rule reports a finding that the code has not acknowledged
    problems = [
        f"{v.severity} {v.rule_name}: {v.description} at {[r.construct_path for r in v.violating_resources]}"
        for v in report.violations
    ]
    assert report.success, "\n".join(problems)


def test_every_acknowledgment_names_a_rule_and_a_specific_reason(synthesized: Synthesized) -> None:
    everything = _acknowledgments(synthesized.app)
    # CDK itself acknowledges some of its built-in CloudFormation checks; those are not ours to review.
    acknowledgments = [item for item in everything if "AwsSolutions-" in item[1]]
    assert all(rule.startswith("CloudFormation-Validate::") for _, rule, _ in set(everything) - set(acknowledgments))
    print(f"\n[infra] {len(acknowledgments)} cdk-nag acknowledgments:")
    for path, rule, reason in sorted(acknowledgments, key=lambda item: item[1]):
        print(f"  {rule.removeprefix('Annotation::')} @ {path}\n      {reason}")
    assert acknowledgments
    for path, rule, reason in acknowledgments:
        assert "AwsSolutions-" in rule, (path, rule)
        assert len(reason) >= 40, (path, rule, reason)
        # Narrowest scope: on a resource or its construct, never on a stack or the app.
        assert path.count("/") >= 1, (path, rule)


def test_app_registers_the_pack_as_a_validation_plugin() -> None:
    import inspect

    import infra.app

    source = inspect.getsource(infra.app.build_app)
    assert "Validations.of(app).add_plugins(AwsSolutionsChecks(app))" in source
