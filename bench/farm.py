"""Farm overheads, measured in one run on this machine (issue #4 targets):

1. per-task overhead of the celery executor against the local one, same 200 small jobs
   (target <= 5 ms per task), twice: one Celery task per job (`block_size=1`, the raw cost of a
   Celery round trip) and with the default variant blocks (what a sweep does: the 200 jobs travel
   as a few tasks, and the overhead is shared by the jobs of a block);
2. speed-up of 2 workers over 1 on CPU-bound jobs (target >= 1.7x on 2 cores), for the local
   pool and for Celery workers;
3. reduce time for 1,000 stored results (target <= 2 s), and the time to write every report.

Needs a Redis on 127.0.0.1:6379 (db 12 is used and flushed) for the Celery parts.

    python bench/farm.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/farm.py`, this file's directory comes first on sys.path and the script
# would shadow the `farm` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

BROKER = "redis://127.0.0.1:6379/12"
ROUNDS = 3
BENCH_MODULE = "bench_farm_setup"
SETUP = '''
import farm
from farm.data.sample import sample_source
import strategies

farm.set_config(base_interval="5m")
farm.add_exchange("sample", sample_source("5m"))
farm.add_frame("day", "5m", "2018-01-20", "2018-01-20T23:55:00Z")
farm.add_frame("month", "5m", "2018-01-11", "2018-01-29")
strategies.register_all()
small = farm.grid("sma_cross", fast=list(range(3, 53)), slow=[60])          # 50 variants
# CPU-bound jobs: the same strategy without its vectorised form, so it runs on the per-tick engine
# (on the kernel a month takes a few ms and the pool's start-up would be all there is to measure).
from strategies import sma_cross
farm.add_strategy("sma_cross_per_tick", "1m", sma_cross.get_signal, params=sma_cross.PARAMS)
heavy = farm.grid("sma_cross_per_tick", fast=list(range(5, 65, 5)), slow=[100, 150])  # 24 variants
farm.add_walker("small", "sample", "day", small)
farm.add_walker("heavy", "sample", "month", heavy)
SYMBOLS = ["ADA/BTC", "ETH/BTC", "TRX/BTC", "XLM/BTC"]
'''


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - started
    failures = getattr(result, "failures", None)
    if failures:
        raise SystemExit(f"benchmark sweep had {len(failures)} failed tasks, first: {failures[0].error}")
    return elapsed, result


def start_workers(concurrency: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FARM_BROKER_URL": BROKER, "FARM_IMPORTS": BENCH_MODULE,
           "PYTHONPATH": f"{workdir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "worker", "--concurrency", str(concurrency), "--pool", "prefork",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-farm-"))
    (workdir / f"{BENCH_MODULE}.py").write_text(SETUP)
    sys.path.insert(0, str(workdir))
    os.environ["FARM_BROKER_URL"] = BROKER
    os.environ["FARM_IMPORTS"] = BENCH_MODULE
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    import bench_farm_setup as setup  # noqa: F401  (registers everything)

    from farm.config import get_settings
    from farm.persist import open_store
    from farm.run.execute import execute, execute_and_store
    from farm.run.sweep import plan_sweep, sweep
    from workers.executor import CeleryExecutor

    def store(name: str):  # type: ignore[no-untyped-def]
        return open_store(f"file://{workdir / name}")

    symbols = setup.SYMBOLS
    small = plan_sweep("small", symbols)
    n_small = len(small.jobs)
    for job in small.jobs[:8]:  # warm this process (imports, the kernel's cache load)
        execute(job)
    # Interleaved, best of ROUNDS: these machines are noisy. Each sweep writes to a fresh store.
    best: dict[tuple[str, int | None], float] = {}
    workers = start_workers(1, workdir)
    try:
        time.sleep(3)  # worker boot
        for r in range(ROUNDS):
            # The floor: the same jobs run and stored one after another in this warm process.
            target = store(f"s-inproc-{r}")
            elapsed, _ = timed(lambda target=target: [execute_and_store(job, target) for job in small.jobs])
            best[("in-process", None)] = min(best.get(("in-process", None), elapsed), elapsed)
            for block_size in (1, None):
                for executor in ("local", "celery"):
                    extra = {"workers": 1} if executor == "local" else {}
                    elapsed, _ = timed(sweep, "small", symbols, executor=executor, block_size=block_size,
                                       store=store(f"s-{executor}-{block_size}-{r}"), **extra)
                    key = (executor, block_size)
                    best[key] = min(best.get(key, elapsed), elapsed)
    finally:
        stop(workers)

    t_heavy1, _ = timed(sweep, "heavy", symbols, executor="local", workers=1, store=store("h-local1"))
    t_heavy2, _ = timed(sweep, "heavy", symbols, executor="local", workers=2, store=store("h-local2"))
    workers = start_workers(1, workdir)
    try:
        time.sleep(3)
        t_cheavy1, _ = timed(sweep, "heavy", symbols, executor="celery", store=store("h-celery1"))
    finally:
        stop(workers)
    workers = start_workers(2, workdir)
    try:
        time.sleep(3)
        t_cheavy2, _ = timed(sweep, "heavy", symbols, executor="celery", store=store("h-celery2"))
    finally:
        stop(workers)

    t_reduce, t_reports = reduce_1000(workdir)

    inproc = best[("in-process", None)]
    print(f"1. {n_small} small jobs (one day of 5m candles each), best of {ROUNDS}; run and stored one by one "
          f"in this (warm) process: {inproc:.2f} s")
    blocks_label = f"variant blocks (FARM_BLOCK_SIZE={get_settings().block_size})"
    for block_size, label in ((1, "one task per job"), (None, blocks_label)):
        local, celery = best[("local", block_size)], best[("celery", block_size)]
        tasks = len(CeleryExecutor(block_size=block_size).blocks(small.jobs))
        per_job = (celery - local) / n_small * 1000
        strict = (celery - inproc) / n_small * 1000
        print(f"   {label}: {tasks} Celery tasks; local pool(1) {local:.2f} s, celery(1 worker) {celery:.2f} s "
              f"-> celery over local {per_job:.1f} ms per job (target <= 5 ms: {'met' if per_job <= 5 else 'NOT met'});"
              f" over the warm in-process floor {strict:.1f} ms per job (the local pool pays its process start-up "
              f"in every sweep, a running worker does not)")
    print(f"2. {len(plan_sweep('heavy', symbols).jobs)} CPU-bound jobs (a month each, per-tick engine): local 1 worker "
          f"{t_heavy1:.2f} s, 2 workers {t_heavy2:.2f} s -> {t_heavy1 / t_heavy2:.2f}x; celery 1 worker "
          f"{t_cheavy1:.2f} s, 2 workers {t_cheavy2:.2f} s -> {t_cheavy1 / t_cheavy2:.2f}x (target >= 1.7x)")
    print(f"3. reduce 1,000 stored results: {t_reduce:.2f} s (target <= 2 s): {'met' if t_reduce <= 2 else 'NOT met'}; "
          f"writing every report and picture: {t_reports:.2f} s more")
    redis.Redis.from_url(BROKER).flushdb()
    shutil.rmtree(workdir, ignore_errors=True)


def reduce_1000(workdir: Path) -> tuple[float, float]:
    """1,000 stored results: 100 SMA variants x 10 symbols (each symbol's results are one real
    run of that variant on ETH/BTC, stored under the job's own key)."""
    import farm
    from farm.persist import keys as K
    from farm.persist import open_store
    from farm.run.execute import execute
    from farm.run.reduce import reduce_sweep
    from farm.run.sweep import plan_sweep

    variants = farm.grid("sma_cross", fast=list(range(3, 23, 2)), slow=list(range(40, 140, 10)))
    farm.add_walker("thousand", "sample", "month", variants)
    manifest = plan_sweep("thousand", [f"SYM{i}/BTC" for i in range(10)])
    store = open_store(f"file://{workdir / 'thousand'}")
    runs = {}
    for job in plan_sweep("thousand", ["ETH/BTC"]).jobs:  # planned for the data they run on (its key)
        runs[job.strategies[0]] = execute(job)
    for job in manifest.jobs:
        template = runs[job.strategies[0]]
        store.write(K.result(job.key), template.model_copy(update={"key": job.key, "job": job}).model_dump_json().encode())
    t_reduce, _ = timed(reduce_sweep, manifest, store, out=None)
    t_all, _ = timed(reduce_sweep, manifest, store, out=workdir / "thousand-out")
    return t_reduce, t_all - t_reduce


if __name__ == "__main__":
    main()
