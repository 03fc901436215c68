"""Keys from content (issue #10.2 and #10.3): a re-sweep recomputes exactly the jobs whose inputs
changed (frame dates, a data file, a helper module, a strategy a running worker imported before
the edit) and skips the others; settings that cannot change a result are not in the key, so a
sweep from the CLI and from Python have one id and the same report bytes.

The strategies live in modules this test writes (a small project on sys.path, one per test),
edited as a user edits theirs; "a fresh process" is simulated by importing them afresh.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import farm
from farm.data.sample import sample_dir
from farm.data.sources import DataFrameSource
from farm.errors import FarmError
from farm.persist import keys as K
from farm.run.execute import execute
from farm.run.jobs import TaskResult, strategy_code_version
from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import ROOT, report_bytes, store_at
from tests.farm.names import HELPERS

SYMBOLS = ["ADA/BTC", "ETH/BTC"]

SETUP = '''\
"""The project's exchange and frame."""
import farm
from farm.data.sources import FileSource

farm.set_config(base_interval="5m")
farm.add_exchange("{p}-x", FileSource({data!r} + "/{{symbol}}_{{interval}}.parquet", "5m"))
farm.add_frame("{p}-f", "5m", "{start}", "{end}")
'''

HELPER = '''\
"""Shared by strategy a only."""
TAKE_PROFIT = 1.02
'''

STRATEGY = '''\
import farm
import {p}_setup  # noqa: F401 - registers the exchange and frame
{imports}

def get_signal(symbol, when):
    candles = farm.get_candles(symbol, "5m", 21)
    if len(candles) < 21:
        return None
    close = candles.close
    if not (close[-6:-1].mean() <= close[-21:-1].mean() and close[-5:].mean() > close[-20:].mean()):
        return None
    price = farm.get_average_price(symbol)
    return {{"position": "long", "price_take_profit": price * {take_profit}, "price_stop_loss": price * 0.99,
            "minute_estimated_time": 240}}

farm.add_strategy("{p}_{name}", "5m", get_signal)
'''


class Project:
    """A user's strategy project in a directory on sys.path: setup, helper, strategies a and b."""

    def __init__(self, root: Path):
        self.p = f"kt{uuid.uuid4().hex[:8]}"
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True)
        for symbol in SYMBOLS:
            name = f"{symbol.replace('/', '-')}_5m.parquet"
            shutil.copy(sample_dir() / name, self.data / name)
        self.write("setup", SETUP.format(p=self.p, data=str(self.data), start="2018-01-12T00:00:00Z",
                                         end="2018-01-14T00:00:00Z"))
        self.write("helper", HELPER)
        self.write("a", STRATEGY.format(p=self.p, name="a", imports=f"import {self.p}_helper as helper",
                                        take_profit="helper.TAKE_PROFIT"))
        self.write("b", STRATEGY.format(p=self.p, name="b", imports="", take_profit="1.02"))
        self.a, self.b, self.walker = f"{self.p}_a", f"{self.p}_b", f"{self.p}-w"

    @property
    def modules(self) -> list[str]:
        return [f"{self.p}_{m}" for m in ("setup", "helper", "a", "b")]

    def path(self, module: str) -> Path:
        return self.root / f"{self.p}_{module}.py"

    def write(self, module: str, text: str) -> None:
        self.path(module).write_text(text)

    def edit(self, module: str, old: str, new: str) -> None:
        text = self.path(module).read_text()
        assert old in text
        self.write(module, text.replace(old, new))

    def fresh_import(self) -> None:
        """What a new `farm sweep` process sees: the modules imported from the files as they are."""
        for name in self.modules:
            sys.modules.pop(name, None)
        farm.clear_registry()
        importlib.invalidate_caches()
        for name in (self.a, self.b):
            importlib.import_module(name)
        farm.add_walker(self.walker, f"{self.p}-x", f"{self.p}-f", [self.a, self.b])

    def edit_candle(self, symbol: str, when: str, factor: float) -> None:
        """Scale one candle's prices inside the frame in `symbol`'s file."""
        path = self.data / f"{symbol.replace('/', '-')}_5m.parquet"
        df = pd.read_parquet(path)
        row = df["timestamp"] == int(pd.Timestamp(when).value // 1_000_000)
        assert row.sum() == 1
        for column in ("open", "high", "low", "close"):
            df.loc[row, column] *= factor
        df.to_parquet(path)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit in the same second must be seen
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    (tmp_path / "project").mkdir()
    proj = Project(tmp_path / "project")
    proj.fresh_import()
    yield proj
    for name in proj.modules:
        sys.modules.pop(name, None)


def sweep_and_see(project: Project, store, **kwargs) -> tuple[set[tuple[str, str]], object]:
    """Run the project's sweep; returns the (strategy, symbol) jobs it had to compute, and the result."""
    manifest = plan_sweep(project.walker, SYMBOLS)
    to_run = {(j.strategies[0], j.symbol) for j in manifest.jobs if not store.exists(K.result(j.key))}
    result = sweep(project.walker, SYMBOLS, executor=kwargs.pop("executor", "local"), workers=1, store=store,
                   **kwargs)
    assert result.tasks_run == len(to_run) and result.tasks_skipped == len(manifest.jobs) - len(to_run)
    return to_run, result


def stats(result, symbol: str, strategy: str) -> dict:
    (entry,) = [s for s in result.walker_results[symbol].strategies if s.strategy_name == strategy]
    return entry.stats.model_dump(exclude={"signal_list"})


ALL = {(s, sym) for s in ("a", "b") for sym in SYMBOLS}


def named(project: Project, jobs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(name.removeprefix(f"{project.p}_"), symbol) for name, symbol in jobs}


# ---- frame dates, data files, helper modules --------------------------------------------------------


def test_editing_the_frame_dates_recomputes_every_job_and_renaming_it_none(project, tmp_path):
    store = store_at(tmp_path / "store")
    ran, _ = sweep_and_see(project, store)
    assert named(project, ran) == ALL

    project.edit("setup", "2018-01-14T00:00:00Z", "2018-01-13T12:00:00Z")
    project.fresh_import()
    ran, _ = sweep_and_see(project, store)
    assert named(project, ran) == ALL  # today's code: "0 run, 4 already stored", the old numbers

    # The same dates under another name (registered outside the strategies' modules, whose
    # edits are code edits): nothing to compute.
    farm.add_frame("renamed", "5m", "2018-01-12T00:00:00Z", "2018-01-13T12:00:00Z")
    project.walker = "renamed-w"
    farm.add_walker(project.walker, f"{project.p}-x", "renamed", [project.a, project.b])
    ran, _ = sweep_and_see(project, store)
    assert ran == set()


def test_editing_one_symbols_data_file_recomputes_that_symbols_jobs(project, tmp_path):
    store = store_at(tmp_path / "store")
    _, before = sweep_and_see(project, store)

    project.edit_candle("ETH/BTC", "2018-01-12T18:00:00Z", 1.5)
    project.fresh_import()
    ran, after = sweep_and_see(project, store)

    assert named(project, ran) == {("a", "ETH/BTC"), ("b", "ETH/BTC")}
    assert stats(after, "ADA/BTC", project.a) == stats(before, "ADA/BTC", project.a)
    # The same process, without re-importing anything, sees the edit too (the digest follows the file).
    project.edit_candle("ADA/BTC", "2018-01-12T18:00:00Z", 1.5)
    ran, _ = sweep_and_see(project, store)
    assert named(project, ran) == {("a", "ADA/BTC"), ("b", "ADA/BTC")}


def test_editing_a_helper_module_recomputes_the_strategies_that_import_it(project, tmp_path):
    store = store_at(tmp_path / "store")
    _, before = sweep_and_see(project, store)

    project.edit("helper", "TAKE_PROFIT = 1.02", "TAKE_PROFIT = 1.006")
    project.fresh_import()
    ran, after = sweep_and_see(project, store)

    assert named(project, ran) == {("a", "ADA/BTC"), ("a", "ETH/BTC")}
    changed = [s for s in SYMBOLS if stats(after, s, project.a) != stats(before, s, project.a)]
    assert changed, "the helper edit changed no result: the test proves nothing"
    assert all(stats(after, s, project.b) == stats(before, s, project.b) for s in SYMBOLS)


def test_the_code_version_is_of_the_code_imported_not_of_the_files_now(project):
    version = strategy_code_version([project.a])
    other = strategy_code_version([project.b])
    project.edit("helper", "TAKE_PROFIT = 1.02", "TAKE_PROFIT = 1.03")
    # This process still runs the old helper: its code version must not move with the file.
    assert strategy_code_version([project.a]) == version
    importlib.reload(sys.modules[f"{project.p}_helper"])  # now it runs the new one
    assert strategy_code_version([project.a]) != version
    assert strategy_code_version([project.b]) == other


# ---- a long-lived Celery worker that imported the old code --------------------------------------


def test_a_worker_that_imported_old_code_refuses_the_job(project, worker_processes, celery_app, tmp_path,
                                                         fresh_queue, use_queue, monkeypatch):
    imports = f"{project.a},{project.b}"
    monkeypatch.setenv("FARM_IMPORTS", imports)
    use_queue(fresh_queue)
    env = {"FARM_IMPORTS": imports, "PYTHONPATH": str(project.root), "PYTHONDONTWRITEBYTECODE": "1"}
    worker = worker_processes("keys-old", fresh_queue, **env)
    store = store_at(tmp_path / "store")

    def celery_sweep():
        done: dict[str, object] = {}
        thread = threading.Thread(target=lambda: done.update(r=sweep_and_see(project, store, executor="celery")),
                                  daemon=True)
        thread.start()
        thread.join(90)
        assert not thread.is_alive(), f"the sweep did not finish within 90 s; worker log:\n{worker.log()}"
        return done["r"]

    ran, first = celery_sweep()
    assert named(project, ran) == ALL and first.failures == []

    project.edit("a", "price * helper.TAKE_PROFIT", "price * helper.TAKE_PROFIT * 0.988")
    project.fresh_import()
    ran, refused = celery_sweep()  # the worker still runs the strategy it imported at start

    assert named(project, ran) == {("a", "ADA/BTC"), ("a", "ETH/BTC")}
    assert {(f.strategy_name, f.symbol) for f in refused.failures} == {(project.a, s) for s in SYMBOLS}
    assert all("restart the worker" in f.error for f in refused.failures), refused.failures
    manifest = plan_sweep(project.walker, SYMBOLS)
    assert not any(store.exists(K.result(j.key)) for j in manifest.jobs if j.strategies[0] == project.a)

    worker.stop()
    worker = worker_processes("keys-new", fresh_queue, **env)
    ran, after = celery_sweep()
    assert named(project, ran) == {("a", "ADA/BTC"), ("a", "ETH/BTC")} and after.failures == []
    assert any(stats(after, s, project.a) != stats(first, s, project.a) for s in SYMBOLS)
    assert all(stats(after, s, project.b) == stats(first, s, project.b) for s in SYMBOLS)


# ---- a user callable: fingerprinted from its candles ---------------------------------------------


def test_a_user_callable_is_fingerprinted_from_its_candles(project, tmp_path):
    frames = {s: pd.read_parquet(project.data / f"{s.replace('/', '-')}_5m.parquet") for s in SYMBOLS}
    held = {"source": DataFrameSource(frames, "5m")}
    farm.add_exchange("user", lambda symbol, interval, since, limit: held["source"](symbol, interval, since, limit))
    farm.add_walker("user-w", "user", f"{project.p}-f", [project.a])
    store = store_at(tmp_path / "store")
    assert all(j.data.startswith("read:") for j in plan_sweep("user-w", SYMBOLS).jobs)
    assert sweep("user-w", SYMBOLS, workers=1, store=store).tasks_run == 2

    edited = frames["ETH/BTC"].copy()
    edited.loc[edited.index[len(edited) // 2], "close"] *= 1.0001
    edited.loc[edited["timestamp"] == int(pd.Timestamp("2018-01-13T03:00:00Z").value // 1_000_000), "volume"] += 1
    held["source"] = DataFrameSource({**frames, "ETH/BTC": edited}, "5m")
    again = sweep("user-w", SYMBOLS, workers=1, store=store)
    assert (again.tasks_run, again.tasks_skipped) == (1, 1)
    assert [j.symbol for j in plan_sweep("user-w", SYMBOLS).jobs if not store.exists(K.result(j.key))] == []

    # The data changes between planning and running: the worker refuses, never files it.
    from farm.run.jobs import plan_job

    job = plan_job((project.a,), "ETH/BTC", "user", f"{project.p}-f")
    held["source"] = DataFrameSource(frames, "5m")
    with pytest.raises(FarmError, match="changed since the job was planned"):
        execute(job)


# ---- settings that cannot change a result; the CLI and Python agree -------------------------------


def test_settings_that_cannot_change_a_result_are_not_in_the_key(registered):
    plan = plan_sweep("tf-clean", SYMBOLS)
    farm.set_config(get_candles_retry_delay_ms=1, get_candles_retry_count=7, backtest_path="per-tick",
                    report_max_rows=3, report_show_signal_note=True)
    same = plan_sweep("tf-clean", SYMBOLS)
    assert same.sweep_id == plan.sweep_id and [j.key for j in same.jobs] == [j.key for j in plan.jobs]
    farm.set_config(percent_fee=0.05)
    assert not {j.key for j in plan_sweep("tf-clean", SYMBOLS).jobs} & {j.key for j in plan.jobs}


def test_the_cli_and_python_give_one_sweep_id_and_identical_reports(registered, tmp_path):
    farm.set_config(get_candles_retry_delay_ms=1, backtest_path="per-tick")  # a notebook's own settings
    python = sweep("tf-clean", SYMBOLS, workers=1, store=store_at(tmp_path / "py-store"), out=tmp_path / "py")

    env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_DATA_DIR": str(tmp_path / "cli-data")}
    env.pop("FARM_IMPORTS", None)
    cli = subprocess.run(
        [sys.executable, "-m", "farm.cli", "sweep", "--walker", "tf-clean", "--symbols", ",".join(SYMBOLS),
         "--imports", HELPERS, "--workers", "1", "--out", str(tmp_path / "cli")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    match = re.search(r"^sweep (\S+): 4 tasks, 4 run, 0 already stored", cli.stdout, re.M)
    assert match, cli.stdout
    assert match.group(1) == python.sweep_id
    cli_reports, python_reports = report_bytes(tmp_path / "cli"), report_bytes(tmp_path / "py")
    assert cli_reports and cli_reports.keys() == python_reports.keys()
    for name, data in cli_reports.items():
        assert data == python_reports[name], f"report {name} differs between the CLI and Python"


def test_results_record_their_data_identity(project, tmp_path):
    store = store_at(tmp_path / "store")
    sweep_and_see(project, store)
    for job in plan_sweep(project.walker, SYMBOLS).jobs:
        stored = TaskResult.model_validate_json(store.read(K.result(job.key)))
        assert stored.job.data.startswith("file:parquet:5m:") and stored.job.frame.interval == "5m"


def test_how_a_strategy_is_registered_is_part_of_its_code_version(project):
    """Registration values live outside the strategy's modules (here: this test), so they are
    described in the version: the interval, the parameters and the risk rules' own parameters."""
    get_signal = sys.modules[project.a].get_signal

    def version(interval: str = "5m", fast: int = 5, limit: int = 1) -> str:
        farm.clear_registry()
        farm.add_risk("book", [farm.max_concurrent_positions(limit)])
        farm.add_strategy("s", interval, get_signal, risk_name="book", params={"fast": fast})
        return strategy_code_version(["s"])

    base = version()
    assert version() == base
    assert len({base, version(interval="15m"), version(fast=6), version(limit=2)}) == 4
    version()
    assert strategy_code_version([farm.variant("s", fast=9)]) == base  # a variant: its name says the rest


def test_a_version_does_not_depend_on_which_sibling_modules_a_process_imported(tmp_path, monkeypatch):
    """A worker importing fewer of a package's modules than the coordinator computes the same
    version (the import system hangs every imported submodule on its package)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"ktpkg{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("def nothing():\n    return None\n")
    (tmp_path / name / "one.py").write_text(
        f"import farm\nfrom {name} import nothing\n\ndef get_signal(symbol, when):\n    return nothing()\n\n"
        "farm.add_strategy('one', '5m', get_signal)\n")
    (tmp_path / name / "two.py").write_text("VALUE = 1\n")
    try:
        importlib.import_module(f"{name}.one")
        alone = strategy_code_version(["one"])
        importlib.import_module(f"{name}.two")
        assert strategy_code_version(["one"]) == alone
    finally:
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            sys.modules.pop(module)


def test_a_worker_whose_frame_has_other_dates_refuses_the_job(project):
    from farm import registry
    from farm.run.jobs import plan_job

    job = plan_job((project.a,), "ETH/BTC", f"{project.p}-x", f"{project.p}-f")
    registry.frames.clear()  # this process now knows the frame with other dates (same code)
    farm.add_frame(f"{project.p}-f", "5m", "2018-01-12T00:00:00Z", "2018-01-13T00:00:00Z")
    with pytest.raises(FarmError, match=f"frame {project.p}-f here is 5m .* restart the worker"):
        execute(job)
    assert execute(plan_job((project.a,), "ETH/BTC", f"{project.p}-x", f"{project.p}-f")).outcomes
