"""`get_code`, `dump` and `dump_signal` (SPEC §12.3-12.5): a Python module whose sections are in
order, whose names share a content-derived prefix (D18), and whose prompts cannot break out of
their strings."""

from __future__ import annotations

import ast
import json
import re

import farm
from farm import registry
from farm.optimizer import Optimizer, dump_signal
from farm.optimizer.facade import load_module
from farm.optimizer.runtime import sample_exchange_code

HOSTILE = 'ends with a backslash \\ and quotes \'" """ and a newline\nimport os; os.remove("x") # \' + "'


def register(prompt: str = HOSTILE, **extra) -> None:
    farm.add_optimizer(
        "gen", range_train=[{"start_date": "2017-11-06", "end_date": "2017-11-07"},
                            {"start_date": "2017-11-08", "end_date": "2017-11-09"}],
        range_test={"start_date": "2017-11-10", "end_date": "2017-11-10T03:00:00Z"},
        source=[lambda **kw: [{"id": 1}]], get_prompt=lambda symbol, messages: prompt,
        template={"get_exchange_template": sample_exchange_code}, **extra,
    )


def test_the_module_has_every_section_in_order_and_compiles():
    register()
    code = Optimizer.get_code("UNITTEST/BTC", "gen")
    ast.parse(code)
    prefix = re.search(r"'(o[0-9a-f]{10})_walker'", code).group(1)
    order = ["#!/usr/bin/env python3", "def dump_json(", "def text(", "def json(", f"'{prefix}_exchange'",
             f"'{prefix}_train_frame-1'", f"'{prefix}_train_frame-2'", f"'{prefix}_test_frame'",
             f"'{prefix}_strategy-1'", f"'{prefix}_strategy-2'", "WALKER_NAME =", 'if __name__ == "__main__":']
    positions = [code.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "WARN_KB = 100" in code and "'5m'" in code and "'1m'" in code


def test_the_same_inputs_give_the_same_module_and_other_prompts_another_prefix():
    register()
    first = Optimizer.get_code("UNITTEST/BTC", "gen")
    assert Optimizer.get_code("UNITTEST/BTC", "gen") == first
    farm.clear_registry()
    register(prompt="another strategy")
    other = Optimizer.get_code("UNITTEST/BTC", "gen")
    prefix = lambda code: re.search(r"'(o[0-9a-f]{10})_walker'", code).group(1)  # noqa: E731
    assert prefix(other) != prefix(first)


def test_a_hostile_prompt_stays_a_string_and_the_module_imports(tmp_path):
    seen: list = []
    register(callbacks={"on_code": lambda s, code: seen.append(("code", s)),
                        "on_dump": lambda s, path: seen.append(("dump", path))})
    path = Optimizer.dump("UNITTEST/BTC", "gen", tmp_path / "out")
    assert path == (tmp_path / "out" / "gen_UNITTEST_BTC.py").resolve()
    assert seen == [("code", "UNITTEST/BTC"), ("dump", path)]
    module = load_module(path, "gen_UNITTEST_BTC")
    walker = registry.walkers.get(module.WALKER_NAME)
    assert walker.strategies == module.STRATEGIES and len(walker.strategies) == 2
    assert registry.frames.get(walker.frame_name).start_date.isoformat() == "2017-11-10T00:00:00+00:00"
    constants = [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)]
    assert HOSTILE in constants  # the prompt is one string literal, byte for byte
    assert not (tmp_path / "x").exists()


def test_dump_signal_writes_the_conversation_once(tmp_path):
    history = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
               {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}]
    signal = {"position": "long", "price_open": 1.0}
    folder = dump_signal("abc", history, signal, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "00_system_prompt.md", "01_user_message.md", "02_user_message.md", "03_llm_output.md"]
    summary = (folder / "00_system_prompt.md").read_text()
    assert summary.startswith("# Outline Result Summary") and "be brief" in summary and '"long"' in summary
    assert json.loads((folder / "03_llm_output.md").read_text().split("```json\n")[1].split("```")[0]) == signal
    assert "second" in (folder / "02_user_message.md").read_text()
    assert dump_signal("abc", history, {"position": "short"}, tmp_path) is None  # an existing one is kept
    assert '"long"' in (folder / "00_system_prompt.md").read_text()
