"""Object storage seen by the load path: S3 in AWS, a directory locally (the same key layout)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from loglens.ingest.sinks import write_atomic


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version: str  # ETag (or version id): a rewritten object is a new object to load
    last_modified: datetime
    size: int


class ObjectStore(Protocol):
    def head(self, key: str) -> ObjectInfo: ...
    def open(self, key: str) -> IO[bytes]: ...
    def put(self, key: str, data: bytes) -> None: ...
    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...


class ObjectMissing(LookupError):
    pass


@dataclass
class LocalObjectStore:
    root: Path

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key {key!r} leaves the store")
        return path

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return ObjectInfo(
            key, f"{stat.st_size}-{stat.st_mtime_ns}", datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size
        )

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def put(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root / prefix
        folder = base if base.is_dir() else base.parent
        if not folder.exists():
            return
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                yield self.head(key)


@dataclass
class S3ObjectStore:
    bucket: str
    client: Any  # a boto3 S3 client

    def head(self, key: str) -> ObjectInfo:
        from botocore.exceptions import ClientError

        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(key) from None
            raise
        return ObjectInfo(key, str(meta.get("ETag", "")).strip('"'), meta["LastModified"], int(meta["ContentLength"]))

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise ObjectMissing(key) from None
            raise
        return io.BufferedReader(_Readable(body), buffer_size=256 * 1024)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    item["Key"], str(item.get("ETag", "")).strip('"'), item["LastModified"], int(item["Size"])
                )


class _Readable(io.RawIOBase):
    """botocore's StreamingBody as a file object that gzip can stream from."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()
