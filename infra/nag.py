"""Acknowledging cdk-nag findings: always on one construct, always with a reason a reviewer can check."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

_MIN_REASON = 40


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Record that `rule` (e.g. ``AwsSolutions-RDS11``) was reviewed for `construct` and why it stands.

    cdk-nag v3 reads these through CDK's Validations metadata and checks the construct and its
    ancestors, so pass the narrowest construct that carries the finding.
    """
    if len(reason) < _MIN_REASON:
        raise ValueError(f"acknowledging {rule} needs a specific reason, not {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcard_resources(policy: IConstruct, resources: Iterable[str], reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly these resource ARNs (each a finding of its own in v3)."""
    for resource in resources:
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{finding_text(policy, resource)}]", reason)


def finding_text(scope: IConstruct, value: str) -> str:
    """The text cdk-nag shows for a (possibly tokenized) value: its flattened CloudFormation form."""
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: Any) -> str:
    # Mirrors cdk-nag's flattenCfnReference, which names IAM5 findings.
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
