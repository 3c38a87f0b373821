"""The typed configuration: every stage in cdk.json is valid, and bad settings stop the synth by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.config import ConfigError, LoglensConfig, load_config
from tests.infra.conftest import cdk_json_context


def _load(context: dict[str, Any]) -> LoglensConfig:
    return load_config(context.get)


def _with(stage_settings: dict[str, Any], stage: str = "dev") -> dict[str, Any]:
    context = copy.deepcopy(cdk_json_context())
    context["stage"] = stage
    stages = context["loglens"]["stages"]
    stages[stage] = {**stages.get(stage, {}), **stage_settings}
    return context


@pytest.mark.parametrize("stage", sorted(cdk_json_context()["loglens"]["stages"]))
def test_every_stage_in_cdk_json_is_valid(stage: str) -> None:
    # Given the committed cdk.json, When a stage is loaded, Then it validates
    config = _load({**cdk_json_context(), "stage": stage})
    assert config.stage == stage
    assert config.database.backup_retention_days >= 7


def test_dev_is_disposable_and_prod_is_retained() -> None:
    dev = _load({**cdk_json_context(), "stage": "dev"})
    prod = _load({**cdk_json_context(), "stage": "prod"})
    assert (dev.removal_policy, prod.removal_policy) == ("destroy", "retain")
    assert prod.database.multi_az


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"firehose": {"buffer_interval_seconds": 60, "buffer_size_mb": 5}}, "firehose.buffer_size_mb"),
        ({"database": {"backup_retention_days": 3}}, "database.backup_retention_days"),
        ({"retention": {"log_retention_days": 10}}, "CloudWatch Logs accepts only"),
        ({"functions": {"memory_mb": {"colect": 512}}}, "unknown ['colect']"),
        ({"functions": {"load_max_concurrency": 10, "load_reserved_concurrency": 5}}, "load_reserved_concurrency"),
        ({"model": {"provider": "anthropic", "model_id": "claude-sonnet-4-5"}}, "internet_egress"),
        ({"api": {"cors_allow_origin": "http://example.com"}}, "api.cors_allow_origin"),
        ({"database": {"parameters": {"rds.force_ssl": "0"}}}, "rds.force_ssl is fixed"),
        ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr"),
        ({"alarms": {"email": "not-an-address"}}, "alarms.email"),
    ],
)
def test_bad_settings_fail_loudly_naming_the_setting(override: dict[str, Any], message: str) -> None:
    # Given a stage override that is wrong, When it is loaded, Then the error names the setting
    context = _with(override)
    with pytest.raises(ConfigError) as caught:
        _load(context)
    assert message in str(caught.value)
    assert "stage 'dev'" in str(caught.value)


def test_prod_may_not_be_destroyed() -> None:
    with pytest.raises(ConfigError, match="prod stage must use removal_policy 'retain'"):
        _load(_with({"removal_policy": "destroy"}, stage="prod"))


def test_unknown_stage_and_missing_context_are_errors() -> None:
    with pytest.raises(ConfigError, match="stage 'qa' is not defined"):
        _load({**cdk_json_context(), "stage": "qa"})
    with pytest.raises(ConfigError, match="context 'loglens'"):
        _load({"stage": "dev"})


def test_anthropic_provider_is_accepted_with_internet_egress() -> None:
    config = _load(
        _with({"internet_egress": True, "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-5"}})
    )
    assert config.model.provider == "anthropic"
