"""S3 (or any S3-compatible store) through boto3; a PUT is atomic for readers.

The endpoint comes from FARM_S3_ENDPOINT_URL (MinIO, moto, Ceph...), credentials from the
environment or boto3's usual chain, never from code. Transient errors are retried by boto3's
standard retry mode with backoff (bounded attempts), then raised as a StoreError.

`url` is `s3://BUCKET/PREFIX` and nothing else: it is what `open_store` opens, so a pool process
or a worker that reopens the store from it lands on the same keys. The endpoint is a setting of
each process (FARM_S3_ENDPOINT_URL), never part of the URL; messages name it apart (`where`).
A store pickles as its configuration (bucket, prefix, endpoint), so a process that receives one
gets a fresh client to the same place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from farm.config import get_settings
from farm.persist.store import StoreError, check_key
from farm.redact import mask_url


class S3Store:
    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
                 max_attempts: int | None = None):
        settings = get_settings()
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint = endpoint_url or settings.s3_endpoint_url
        max_attempts = max_attempts or settings.s3_max_attempts
        self.endpoint_url = endpoint
        self.max_attempts = max_attempts
        self.url = f"s3://{bucket}/{self.prefix}"
        self.where = self.url + (f" (endpoint {mask_url(endpoint)})" if endpoint else "")
        """The store for messages: its URL and the endpoint it reaches."""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=5,
                          read_timeout=30),
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_reopen, (self.bucket, self.prefix, self.endpoint_url, self.max_attempts))

    def _k(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, what: str, key: str, exc: Exception) -> StoreError:
        return StoreError(f"{self.where}: cannot {what} {key!r}: {exc}", transient=_transient(exc))

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._k(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._k(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._fail("check", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("check", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[str]:
        full = (f"{self.prefix}/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix or "*", exc) from exc
        return iter(sorted(keys))

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (deploy scripts and tests; production buckets exist)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            self.client.create_bucket(**kwargs)


TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
                             "ServiceUnavailable", "InternalError", "503", "500", "502", "504"})


def _transient(exc: Exception) -> bool:
    """A connection or timeout error, or a 5xx/throttling reply: S3 may answer later (missing
    credentials or a refusal will not)."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    return False


def _reopen(bucket: str, prefix: str, endpoint_url: str | None, max_attempts: int) -> S3Store:
    return S3Store(bucket, prefix=prefix, endpoint_url=endpoint_url, max_attempts=max_attempts)
