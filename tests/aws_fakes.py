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


def athena_json_model() -> dict[str, Any]:
    """botocore's Athena model with the JSON protocol, which moto's Athena implements.

    botocore 1.44 moved Athena to REST-JSON (/query-executions, ...), which moto (5.2.6, the newest)
    does not route. The operations, parameters and answers are unchanged; only the wire format
    differs, so client and moto both get botocore's own model with the protocol set back.
    """
    import botocore.session

    model = botocore.session.get_session().get_component("data_loader").load_service_model("athena", "service-2")
    model = json.loads(json.dumps(model))
    model["metadata"].update(
        {"protocol": "json", "protocols": ["json"], "jsonVersion": "1.1", "targetPrefix": "AmazonAthena"}
    )
    for operation in model["operations"].values():
        operation["http"] = {"method": "POST", "requestUri": "/"}
    for shape in model["shapes"].values():  # REST bindings of members mean nothing to the JSON protocol
        for member in shape.get("members", {}).values():
            member.pop("location", None)
            member.pop("locationName", None)
    return model  # type: ignore[no-any-return]


def athena_json_client(data_dir: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An Athena client and a moto backend that agree on the JSON protocol (see athena_json_model)."""
    import botocore.session
    import moto.core.responses
    import moto.core.routing
    import moto.core.utils
    from botocore.model import ServiceModel

    model = athena_json_model()
    folder = data_dir / "athena" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    original = moto.core.utils.get_service_model
    service_model = ServiceModel(model, "athena")

    def moto_model(name: str) -> Any:
        return service_model if name == "athena" else original(name)

    monkeypatch.setattr(moto.core.responses, "get_service_model", moto_model)
    monkeypatch.setattr(moto.core.routing, "get_service_model", moto_model)
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(data_dir))
    return boto3.Session(botocore_session=session, region_name=REGION).client("athena")
