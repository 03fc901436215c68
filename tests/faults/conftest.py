"""The fault suite (issue 14): real workers, a real Redis broker (db FARM_TEST_BROKER_DB), moto's
S3 server and a fault proxy (`tests.faults.proxy`) on loopback; one test module per fault.

The farm rig's fixtures (broker, worker processes, the in-process worker) are the ones of
`tests/farm/conftest.py`, imported here so both suites start workers the same way.
"""

from tests.farm.conftest import (  # noqa: F401 - fixtures
    broker_redis,
    celery_app,
    celery_worker,
    counter,
    farm_env,
    fresh_queue,
    registered,
    use_queue,
    worker_processes,
)
