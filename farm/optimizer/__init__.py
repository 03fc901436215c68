"""The LLM strategy optimizer (SPEC §12): collect data over training ranges, turn it into
strategy prompts, generate a Python module of LLM-driven strategies and a walker, and run that
walker on the farm. Every LLM reply is content-addressed in the farm store (`llm`)."""

from farm.optimizer.collect import OptimizerEntry, OptimizerProgress, get_data
from farm.optimizer.facade import GeneratedModuleError, Optimizer, OptimizerResult
from farm.optimizer.llm import LlmClient, LlmError, LlmReplyError, LlmUnavailableError, SignalReply, ask_text
from farm.optimizer.runtime import dump_signal, sample_exchange_code

__all__ = [
    "GeneratedModuleError", "LlmClient", "LlmError", "LlmReplyError", "LlmUnavailableError", "Optimizer",
    "OptimizerEntry", "OptimizerProgress", "OptimizerResult", "SignalReply", "ask_text", "dump_signal", "get_data",
    "sample_exchange_code",
]
