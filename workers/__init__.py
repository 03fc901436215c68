"""The farm's Celery side: the app (`workers.app:app`), its tasks (`farm.run_job` for one job,
`farm.run_block` for a variant block of them) and the executor the coordinator uses to queue and
follow a sweep (`workers.executor.CeleryExecutor`).

Nothing is imported here: `farm` never needs Celery to import, and `celery -A workers.app:app`
loads only what it names.
"""
