"""Point 15 of issue 14 (in part): a negative FARM_VISIBILITY_TIMEOUT or FARM_REDRIVE_AFTER is
refused with one line naming the setting, as every other bad farm setting is; before, a
negative visibility timeout reached the broker and a negative re-drive turned re-driving off."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from farm.cli import app as cli


@pytest.mark.parametrize(("name", "value"), [("FARM_VISIBILITY_TIMEOUT", "-5"), ("FARM_VISIBILITY_TIMEOUT", "0"),
                                             ("FARM_REDRIVE_AFTER", "-1")])
def test_a_negative_delivery_setting_is_refused(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    done = CliRunner().invoke(cli, ["status", "some-sweep"])
    assert done.exit_code == 2
    assert done.output.startswith("error: 1 validation error for FarmSettings")
    assert name.removeprefix("FARM_").lower() in done.output
