"""Every persistence test runs against the three stores: local files, a real Redis on loopback,
a real S3 endpoint (moto's server on loopback, through boto3)."""

from __future__ import annotations

import pytest

from farm.persist import open_store


@pytest.fixture(params=["file", "redis", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'store'}")
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return open_store(f"{url}?prefix={prefix}")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/farm-test")
