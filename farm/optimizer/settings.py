"""Where the optimizer's LLM is and how it is asked: read from the environment, never from a
task message or a generated module.

`FARM_LLM_HOST`, `FARM_LLM_MODEL` and `FARM_LLM_API_KEY` (or Ollama's own `OLLAMA_HOST` and
`OLLAMA_API_KEY`) name any Ollama-compatible endpoint (D10). The key is a `SecretStr`: it is
sent as a bearer token and never printed, logged or stored (its repr is `**********`), and it is
not part of a reply's cache key (a new key gives the same answers).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "deepseek-v3.1:671b"


class LlmSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = Field(default=DEFAULT_HOST, validation_alias=AliasChoices("FARM_LLM_HOST", "OLLAMA_HOST"))
    """The Ollama-protocol endpoint (a local `ollama serve` by default; `https://ollama.com` for
    Ollama's cloud models, with a key)."""
    model: str = Field(default=DEFAULT_MODEL, validation_alias=AliasChoices("FARM_LLM_MODEL"))
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("FARM_LLM_API_KEY", "OLLAMA_API_KEY"))
    max_attempts: int = Field(default=3, ge=1, le=20, validation_alias=AliasChoices("FARM_LLM_MAX_ATTEMPTS"))
    """Requests per question before an invalid structured reply is an error (`LlmReplyError`)."""
    timeout: float = Field(default=300.0, gt=0, validation_alias=AliasChoices("FARM_LLM_TIMEOUT"))
    """Seconds one request may take."""
    seed: int = Field(default=0, validation_alias=AliasChoices("FARM_LLM_SEED"))
    """Sent as the model's `seed` option with temperature 0: a fresh reply is as repeatable as the
    server allows, and the cache makes every later one exactly so."""
    store: str | None = Field(default=None, validation_alias=AliasChoices("FARM_LLM_STORE"))
    """Where replies are kept (a store URL); None: the farm's default store (FARM_DATA_DIR or
    FARM_S3_BUCKET), so every worker of a cluster shares them."""


def get_llm_settings() -> LlmSettings:
    """Read now (tests and workers change the environment between calls)."""
    return LlmSettings()


__all__ = ["DEFAULT_HOST", "DEFAULT_MODEL", "LlmSettings", "get_llm_settings"]
