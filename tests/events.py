"""Builders for the AWS event shapes the handlers receive (API Gateway REST 1.0, S3, SQS)."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any
from urllib.parse import quote_plus


def api_event(
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    gzip_body: bool = False,
    base64_body: bool = True,
    api_key_id: str | None = "key-abc",
    source_ip: str = "198.51.100.7",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    if isinstance(body, dict | list):
        raw: bytes | None = json.dumps(body).encode()
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = body
    all_headers = dict(headers or {})
    if content_type:
        all_headers["Content-Type"] = content_type
    if gzip_body and raw is not None:
        raw = gzip.compress(raw)
        all_headers["Content-Encoding"] = "gzip"
    if raw is None:
        encoded, is_b64 = None, False
    elif base64_body:
        encoded, is_b64 = base64.b64encode(raw).decode(), True
    else:
        encoded, is_b64 = raw.decode(), False
    return {
        "version": "1.0",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "body": encoded,
        "isBase64Encoded": is_b64,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "resourcePath": path,
            "httpMethod": method,
            "stage": "prod",
            "identity": {"sourceIp": source_ip, "apiKeyId": api_key_id, "userAgent": "tests"},
        },
    }


def s3_event(bucket: str, *keys: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": event_name,
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key), "size": 1, "eTag": "x"},
                },
            }
            for key in keys
        ]
    }


def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": json.dumps(body),
                "eventSource": "aws:sqs",
                "attributes": {"ApproximateReceiveCount": "1"},
            }
            for i, body in enumerate(bodies)
        ]
    }


def response_json(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return json.loads(body)
