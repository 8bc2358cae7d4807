"""Settings: typed, from the environment and a TOML file, and wrong values stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_put_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'smartsupport.db'}"
    assert not settings.uses_redis


def test_environment_overrides_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "smartsupport.toml"
    config.write_text('[smartsupport]\nmax_message_chars = 100\nlog_level = "debug"\n')
    monkeypatch.setenv("SMARTSUPPORT_CONFIG_FILE", str(config))
    monkeypatch.setenv("SMARTSUPPORT_LOG_LEVEL", "warning")
    settings = load_settings(data_dir=tmp_path)
    assert settings.max_message_chars == 100
    assert settings.log_level == "warning"


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("SMARTSUPPORT_DATABASE_URL", "mysql://localhost/db", "postgresql://"),
        ("SMARTSUPPORT_REDIS_URL", "http://localhost:6379", "redis://"),
        ("SMARTSUPPORT_MAX_MESSAGE_CHARS", "lots", "SMARTSUPPORT_MAX_MESSAGE_CHARS"),
        ("SMARTSUPPORT_LOG_LEVEL", "chatty", "debug, info"),
        ("SMARTSUPPORT_NO_SUCH_SETTING", "1", "SMARTSUPPORT_NO_SUCH_SETTING"),
    ],
)
def test_a_wrong_setting_is_an_error_that_names_the_fix(monkeypatch, variable, value, hint):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert hint in str(error.value)


def test_missing_config_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SMARTSUPPORT_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="SMARTSUPPORT_CONFIG_FILE"):
        load_settings()


def test_secret_key_is_created_once_and_kept(tmp_path):
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    assert first == Settings(data_dir=tmp_path).resolved_secret_key()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert "s3cret" not in repr(Settings(data_dir=tmp_path, secret_key="s3cret"))


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [
        f"SMARTSUPPORT_{name.upper()}"
        for name in Settings.model_fields
        if f"SMARTSUPPORT_{name.upper()}" not in text
    ]
    assert not missing, f"document these settings in README.md: {missing}"
