"""LLM settings: the provider list and the answer chain come from JSON environment
variables; a wrong value stops start-up with a message that names the fix."""

from __future__ import annotations

import json

import pytest

from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings, load_settings

PRIMARY = {"name": "primary", "base_url": "http://127.0.0.1:1/v1", "model": "m"}


def test_offline_chain_is_the_default():
    settings = Settings()
    assert settings.answer_chain == ["extractive", "handoff", "offline"]
    assert settings.llm_providers == []


def test_providers_and_chain_are_read_from_json_env(monkeypatch):
    backup = {**PRIMARY, "name": "backup", "kind": "anthropic", "api_key": "sk-ant-secret"}
    monkeypatch.setenv("SMARTSUPPORT_LLM_PROVIDERS", json.dumps([PRIMARY, backup]))
    monkeypatch.setenv(
        "SMARTSUPPORT_ANSWER_CHAIN", '["llm:primary", "llm:backup", "extractive", "handoff"]'
    )
    settings = load_settings()
    assert [p.kind for p in settings.llm_providers] == ["openai", "anthropic"]
    assert settings.llm_providers[1].api_key.get_secret_value() == "sk-ant-secret"
    assert "sk-ant-secret" not in repr(settings)


def test_chain_step_without_provider_names_the_fix(monkeypatch):
    monkeypatch.setenv("SMARTSUPPORT_ANSWER_CHAIN", '["llm:primary", "handoff"]')
    with pytest.raises(ConfigurationError, match="add a provider named 'primary'"):
        load_settings()


def test_unknown_step_lists_the_known_ones(monkeypatch):
    monkeypatch.setenv("SMARTSUPPORT_ANSWER_CHAIN", '["gpt", "handoff"]')
    with pytest.raises(ConfigurationError, match="use llm:NAME, extractive, handoff or offline"):
        load_settings()


def test_unknown_provider_kind_is_refused(monkeypatch):
    monkeypatch.setenv("SMARTSUPPORT_LLM_PROVIDERS", json.dumps([{**PRIMARY, "kind": "gemini"}]))
    with pytest.raises(ConfigurationError, match="SMARTSUPPORT_LLM_PROVIDERS.0.KIND"):
        load_settings()


def test_duplicate_provider_names_are_refused():
    with pytest.raises(ConfigurationError, match="share a name"):
        load_settings(llm_providers=[PRIMARY, PRIMARY])


def test_unknown_provider_field_is_refused():
    with pytest.raises(ConfigurationError, match="LLM_PROVIDERS.0.API_KYE: Extra inputs"):
        load_settings(llm_providers=[{**PRIMARY, "api_kye": "x"}])


def test_every_llm_setting_is_described():
    for name in ("llm_providers", "answer_chain", "llm_max_tokens", "llm_temperature"):
        assert Settings.model_fields[name].description
