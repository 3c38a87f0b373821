"""What a route answers, and how it becomes an API Gateway proxy response."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

# Media types sent base64-encoded: API Gateway passes them through as binary (the API declares */*).
_BINARY_TYPES = ("application/x-protobuf", "application/octet-stream", "application/gzip")


class ErrorAnswer(BaseModel):
    """The one error shape of every route, and of API Gateway's own answers (infra/components/rest_api.py)."""

    error: str = Field(description="What was wrong, and where.")
    retry_after: int | None = Field(default=None, description="With 503: seconds to wait before resending.")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode(), "application/json", headers or {})

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> HttpResponse:
        """The one error shape every route answers: {"error": "<what and where>", ...}."""
        return cls.json(status, {"error": message, **extra}, headers)

    def to_proxy(self, cors_origin: str) -> dict[str, Any]:
        headers = {"Content-Type": self.content_type, "Access-Control-Allow-Origin": cors_origin, **self.headers}
        if self.content_type in _BINARY_TYPES:
            return {
                "statusCode": self.status,
                "headers": headers,
                "isBase64Encoded": True,
                "body": base64.b64encode(self.body).decode(),
            }
        return {
            "statusCode": self.status,
            "headers": headers,
            "isBase64Encoded": False,
            "body": self.body.decode("utf-8", "replace"),
        }
