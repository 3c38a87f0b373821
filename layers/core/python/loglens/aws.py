"""The AWS edge: boto3 clients, created once per process and only when a function first needs one.

Nothing here runs at import (boto3 is imported inside), so the core stays importable and testable
without AWS. Each function's variables are read by its model in loglens.environments.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]
