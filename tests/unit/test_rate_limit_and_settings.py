from pathlib import Path

import pytest

from connectpsp.settings import Settings, SettingsError


def test_settings_defaults_and_master_key(tmp_path: Path):
    settings = Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)})
    assert settings.sandbox
    assert settings.database_url == "sqlite:///./var/connectpsp.db"
    assert len(settings.master_key) == 32
    key_file = tmp_path / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)})
    assert again.master_key == settings.master_key  # generated once, then kept


def test_production_requires_a_master_key(tmp_path: Path):
    production = {"CONNECTPSP_ENV": "production", "CONNECTPSP_RAIL": "simulated"}
    with pytest.raises(SettingsError, match="CONNECTPSP_MASTER_KEY"):
        Settings.from_env({**production, "CONNECTPSP_VAR_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="32 bytes"):
        Settings.from_env({**production, "CONNECTPSP_MASTER_KEY": "c2hvcnQ="})
    with pytest.raises(SettingsError, match="CONNECTPSP_ENV"):
        Settings.from_env({"CONNECTPSP_ENV": "staging"})


def test_production_must_name_its_rail(tmp_path: Path):
    key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
    production = {"CONNECTPSP_ENV": "production", "CONNECTPSP_MASTER_KEY": key}
    # The simulated network moves no money: production never falls into it by default.
    with pytest.raises(SettingsError, match="CONNECTPSP_RAIL is required in production"):
        Settings.from_env(production)
    with pytest.raises(SettingsError, match="CONNECTPSP_RAIL must be one of: simulated"):
        Settings.from_env({**production, "CONNECTPSP_RAIL": "spi-direct"})
    assert Settings.from_env({**production, "CONNECTPSP_RAIL": "simulated"}).rail == "simulated"
    assert Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)}).rail == "simulated"


def test_leases_come_from_the_environment(tmp_path: Path):
    default = Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)})
    assert default.job_lease_seconds == 30
    short = Settings.from_env(
        {
            "CONNECTPSP_VAR_DIR": str(tmp_path),
            "CONNECTPSP_JOB_LEASE_SECONDS": "2",
        }
    )
    assert short.job_lease_seconds == 2


def test_token_throttle_settings(tmp_path: Path):
    default = Settings.from_env({"CONNECTPSP_VAR_DIR": str(tmp_path)})
    assert (default.token_failures_per_client, default.token_failures_per_ip) == (5, 20)
    assert default.token_known_source_hours == 24
    changed = Settings.from_env(
        {"CONNECTPSP_VAR_DIR": str(tmp_path), "CONNECTPSP_TOKEN_KNOWN_SOURCE_HOURS": "2"}
    )
    assert changed.token_known_source_hours == 2
