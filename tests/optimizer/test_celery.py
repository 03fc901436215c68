"""The generated walker's backtests as Celery tasks on a separate worker process that imports
the generated module only because its own FARM_IMPORTS names it."""

from __future__ import annotations

from farm.optimizer import Optimizer
from farm.persist import open_store
from tests.optimizer import setup_optimizer as setup


def test_the_generated_strategies_run_on_a_worker_that_imports_the_module(
        fake_ollama, tmp_path, celery_app, worker_processes, fresh_queue, use_queue):
    setup.register()
    out = tmp_path / "out"
    local = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    asked = fake_ollama.calls
    use_queue(fresh_queue)
    worker = worker_processes("optimizer", fresh_queue, FARM_IMPORTS=local.module_name,
                              PYTHONPATH=str(local.module_path.parent))
    result = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, executor="celery",
                           store=open_store(f"file://{tmp_path / 'celery-results'}"))
    assert worker.alive(), worker.log()
    assert result.sweep.tasks_run == 2 and not result.sweep.failures, worker.log()
    assert result.walker_results == local.walker_results
    assert fake_ollama.calls == asked  # the worker read every decision from the shared reply store


def test_a_worker_without_the_module_in_its_imports_refuses_the_jobs(
        fake_ollama, tmp_path, celery_app, worker_processes, fresh_queue, use_queue):
    setup.register()
    out = tmp_path / "out"
    Optimizer.dump(setup.SYMBOL, "llm-test", out)
    use_queue(fresh_queue)
    worker_processes("no-imports", fresh_queue, FARM_IMPORTS="", PYTHONPATH=str(out.resolve()))
    result = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, executor="celery",
                           store=open_store(f"file://{tmp_path / 'celery-results'}"))
    assert len(result.sweep.failures) == 2
    assert all("not in this worker's FARM_IMPORTS" in f.error for f in result.sweep.failures)
