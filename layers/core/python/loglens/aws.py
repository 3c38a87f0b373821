"""The AWS edge: boto3 clients, created once per process and only when a function first needs one.

Nothing here runs at import (boto3 is imported inside), so the core stays importable and testable
without AWS. Each function's variables are read by its model in loglens.environments.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

_secrets: dict[str, tuple[float, str]] = {}


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


def secret_string(arn: str, *, max_age_seconds: float = 300.0) -> str:
    """A Secrets Manager string, cached for `max_age_seconds` so a rotated value is picked up without a deploy.

    Powertools' parameters utility does the same, but importing it imports boto3 and AppConfig's
    provider at module import (~0.3 s of every cold start, also for paths that never read a secret)."""
    now = time.monotonic()
    cached = _secrets.get(arn)
    if cached is not None and now - cached[0] < max_age_seconds:
        return cached[1]
    value = str(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    _secrets[arn] = (now, value)
    return value
