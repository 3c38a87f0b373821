"""The ARNs a Bedrock model id names: a foundation model, or a cross-region inference profile and its model."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack

# Cross-region inference profiles start with their geography; the bare model id follows.
INFERENCE_PROFILE_PREFIXES = ("global.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.")
INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


@dataclass(frozen=True)
class ModelArns:
    profile: str | None  # the inference profile, when the id names one
    model: str  # the foundation model (any region of the profile's geography when there is a profile)


def model_arns(stack: Stack, model_id: str) -> ModelArns:
    if not model_id.startswith(INFERENCE_PROFILE_PREFIXES):
        model = stack.format_arn(
            service="bedrock",
            account="",
            resource="foundation-model",
            resource_name=model_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        return ModelArns(None, model)
    profile = stack.format_arn(
        service="bedrock",
        resource="inference-profile",
        resource_name=model_id,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
    # The profile routes each request to any region of its geography, so the model ARN's region is open.
    model = stack.format_arn(
        service="bedrock",
        region="*",
        account="",
        resource="foundation-model",
        resource_name=model_id.split(".", 1)[1],
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
    return ModelArns(profile, model)
