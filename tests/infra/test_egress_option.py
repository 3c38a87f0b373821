"""internet_egress: the one opt-in way out, used by the ask and alerts functions only (Anthropic API, Slack)."""

from __future__ import annotations

import copy

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.config import load_config
from infra.stacks.network import NetworkStack
from tests.infra.conftest import cdk_json_context


def test_egress_adds_one_nat_used_only_by_ask_and_drops_the_bedrock_endpoint() -> None:
    # Given a stage that calls the Anthropic API directly
    context = copy.deepcopy(cdk_json_context())
    context["loglens"]["stages"]["dev"].update(
        {"internet_egress": True, "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-5"}}
    )
    app = cdk.App(context=context)
    config = load_config(app.node.try_get_context)
    # When only the network stack is built (the cheap part that changes)
    stack = NetworkStack(app, "egress-network", config=config, env=cdk.Environment(region=config.region))
    template = Template.from_stack(stack)
    # Then there is exactly one NAT gateway, and no Bedrock endpoint
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint")
    assert not [e for e in endpoints.values() if "bedrock" in str(e["Properties"]["ServiceName"])]
    # And the ask function's subnets are the egress group while everything else stays isolated
    network = stack.network
    ask_subnets = network.vpc.select_subnets(subnet_group_name=network.ask_subnets.subnet_group_name).subnet_ids
    isolated = network.vpc.select_subnets(subnet_group_name=network.isolated_subnets.subnet_group_name).subnet_ids
    assert ask_subnets == [s.subnet_id for s in network.vpc.private_subnets]
    assert not set(ask_subnets) & set(isolated)
