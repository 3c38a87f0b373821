"""The model client for the configured provider: the Anthropic API or Amazon Bedrock.

Anthropic: the API key comes from ANTHROPIC_API_KEY locally, or from a secret in AWS (the caller passes a
function that fetches it, so this module needs no boto3). ANTHROPIC_BASE_URL is honoured by the SDK itself,
which is also how the tests point it at their local fake. Bedrock: the SDK's AnthropicBedrock client signs
with the Lambda's IAM role, so log data stays inside AWS. Both are built with max_retries=0: the SDK would
otherwise re-send a timed-out call up to twice more, past the agent's one deadline (loglens.agent.loop).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from loglens.agent.settings import AgentSettings, Provider
from loglens.settings import ConfigError

if TYPE_CHECKING:
    from loglens.agent.loop import ModelClient


def make_client(
    settings: AgentSettings,
    *,
    api_key: Callable[[], str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ModelClient:
    """A client for `settings.provider`; `api_key` overrides ANTHROPIC_API_KEY (a secret fetched in AWS)."""
    env = os.environ if environ is None else environ
    timeout = settings.model_timeout_seconds
    if api_key is None:
        check_credentials(settings, env)  # before importing the SDK, which takes seconds on a cold disk
    if settings.provider is Provider.BEDROCK:
        from anthropic import AnthropicBedrock

        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        return cast("ModelClient", AnthropicBedrock(aws_region=region, timeout=timeout, max_retries=0))
    key = api_key() if api_key is not None else env.get("ANTHROPIC_API_KEY", "")
    if not key:
        raise ConfigError("the Anthropic API key secret is empty")
    from anthropic import Anthropic

    client = Anthropic(api_key=key, base_url=env.get("ANTHROPIC_BASE_URL") or None, timeout=timeout, max_retries=0)
    return cast("ModelClient", client)


def check_credentials(settings: AgentSettings, environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError, saying what to set, when no model can be called from here. Imports no SDK."""
    env = os.environ if environ is None else environ
    if settings.provider is Provider.BEDROCK:
        if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
            raise ConfigError("MODEL_PROVIDER=bedrock needs AWS_REGION (the Lambda runtime sets it)")
        return
    if not env.get("ANTHROPIC_API_KEY"):
        raise ConfigError(
            "no model credentials: set ANTHROPIC_API_KEY, or MODEL_PROVIDER=bedrock (with MODEL_ID) to use Bedrock"
        )


def has_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a real model can be called from here (used by `loglens eval` to decide what to run)."""
    env = os.environ if environ is None else environ
    if env.get("MODEL_PROVIDER") == Provider.BEDROCK.value:
        return bool(env.get("MODEL_ID"))
    return bool(env.get("ANTHROPIC_API_KEY"))
