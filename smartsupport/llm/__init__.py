"""Language-model providers, chosen by ``kind`` through a small table and imported lazily,
so a deployment without an LLM never loads this code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from smartsupport.errors import ConfigurationError

if TYPE_CHECKING:
    from smartsupport.llm.base import LLMProvider, ProviderConfig

PROVIDERS = {
    "openai": "smartsupport.llm.openai:OpenAIProvider",
    "anthropic": "smartsupport.llm.anthropic:AnthropicProvider",
}


def create_provider(config: ProviderConfig, **kwargs: object) -> LLMProvider:
    """Build the provider for ``config.kind`` (extra keyword arguments go to its class)."""
    try:
        target = PROVIDERS[config.kind]
    except KeyError:
        raise ConfigurationError(
            f"LLM provider {config.name!r} has unknown kind {config.kind!r}; "
            f"use one of: {', '.join(sorted(PROVIDERS))}"
        ) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(config, **kwargs)
