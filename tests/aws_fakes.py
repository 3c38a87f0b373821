"""moto-backed AWS for tests: a raw bucket and a Firehose stream delivering into it under raw/."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

STREAM = "loglens-test"
BUCKET = "loglens-raw-test"
REGION = "us-east-1"


@dataclass
class FakeAws:
    s3: Any
    firehose: Any

    def raw_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/").get("Contents", [])]

    def lines(self, prefix: str = "raw/") -> list[dict[str, Any]]:
        import gzip

        out: list[dict[str, Any]] = []
        for item in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
            body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            out += [json.loads(line) for line in body.splitlines() if line.strip()]
        return out


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        from loglens.aws import client

        client.cache_clear()  # clients made under another mock must not leak in
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        firehose = boto3.client("firehose", region_name=REGION)
        firehose.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "raw/",
            },
        )
        yield FakeAws(s3, firehose)
        client.cache_clear()
    os.environ.pop("LOGLENS_TEST_UNUSED", None)
