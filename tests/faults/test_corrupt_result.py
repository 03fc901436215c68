"""Point 7: one corrupted result file does not block its sweep. `farm report` moves it to
`quarantine/` and reports its job as failed with the reason; a re-run of the sweep runs that
job again and its reports are byte-identical to the clean run's.

Before the fix `farm report` and the re-run both stopped with pydantic's "Invalid JSON" error
(exit 2), and the job was never run again.
"""

from __future__ import annotations

from typer.testing import CliRunner

from farm.cli import app as cli
from farm.persist import keys as K
from farm.run.sweep import default_store, plan_sweep, sweep
from tests.farm.conftest import report_bytes
from tests.farm.names import HELPERS, SYMBOLS

TORN = b'{"key": "0123", "outcomes": [{"strategy_na'


def test_a_corrupted_result_is_quarantined_reported_and_run_again(registered, tmp_path):
    clean = sweep("tf-clean", SYMBOLS, executor="local", workers=2, out=tmp_path / "clean")
    assert clean.failures == []
    store = default_store()
    key = plan_sweep("tf-clean", SYMBOLS).jobs[0].key
    assert store.exists(K.result(key))
    store.write(K.result(key), TORN)

    report = CliRunner().invoke(cli, ["report", clean.sweep_id, "--imports", HELPERS, "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    assert "unreadable record moved to 'quarantine/results/" in report.output, report.output
    assert store.read(K.quarantine(K.result(key))) == TORN and not store.exists(K.result(key))

    store.write(K.result(key), TORN)  # torn again: the re-run quarantines and recomputes it itself
    again = sweep("tf-clean", SYMBOLS, executor="local", workers=2, out=tmp_path / "again")
    assert again.failures == [] and again.tasks_skipped == 6
    assert store.exists(K.result(key))
    assert report_bytes(tmp_path / "again") == report_bytes(tmp_path / "clean")
