"""Point 1: a store on an S3 endpoint (FARM_S3_ENDPOINT_URL: MinIO, moto) keeps every result
under the configured prefix, whether the local pool or Celery workers write it, and `farm
status`, `farm report` and the coordinator agree.

Before the fix the store's URL read `s3://bucket/prefix (endpoint http://…)`: pool processes and
workers reopened the store from it and wrote under the prefix `prefix (endpoint http://…)`, so
the local sweep reported every job "not finished" and a Celery sweep never finished.
"""

from __future__ import annotations

import boto3
import pytest
from typer.testing import CliRunner

from farm.cli import app as cli
from farm.persist import keys as K
from farm.run.sweep import default_store, plan_sweep, sweep
from tests.farm.conftest import report_bytes
from tests.farm.names import HELPERS, SYMBOLS

WALKER = "tf-clean"


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.mark.timeout(180)
def test_sweeps_on_an_s3_endpoint_store_every_result_under_the_prefix(
        s3_endpoint, s3_bucket, celery_worker, registered, monkeypatch, tmp_path):
    jobs = plan_sweep(WALKER, SYMBOLS).jobs
    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    results = {}
    for executor in ("local", "celery"):
        monkeypatch.setenv("FARM_S3_PREFIX", f"runs/{executor}")
        results[executor] = sweep(WALKER, SYMBOLS, executor=executor, workers=2, out=tmp_path / executor)

    keys = bucket_keys(s3_endpoint, s3_bucket)
    for executor, result in results.items():
        stored = [k for k in keys if k.startswith(f"runs/{executor}/results/")]
        assert len(stored) == len(jobs) == 6, f"{executor}: {len(stored)} results under runs/{executor}/"
        assert result.failures == [] and result.tasks_run == len(jobs)
    assert all(k.startswith(("runs/local/", "runs/celery/")) for k in keys), keys
    assert report_bytes(tmp_path / "celery") == report_bytes(tmp_path / "local")

    # `farm status` and `farm report` read the same store from the settings alone.
    store = default_store()
    assert all(store.exists(K.result(job.key)) for job in jobs)
    sweep_id = results["celery"].sweep_id
    runner = CliRunner()
    status = runner.invoke(cli, ["status", sweep_id])
    assert status.exit_code == 0, status.output
    assert f"{len(jobs)}/{len(jobs)} done, 0 failed, 0 pending" in status.output
    report = runner.invoke(cli, ["report", sweep_id, "--imports", HELPERS, "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert report_bytes(tmp_path / "report") == report_bytes(tmp_path / "local")
