"""The retention and metrics settings: a bad value is one line naming the setting."""

from __future__ import annotations

import pytest

from intake.settings import SettingsError, load_settings


@pytest.mark.parametrize(("overrides", "named"), [
    ({"retention_days": "a year"}, "INTAKE_RETENTION_DAYS"),
    ({"retention_days": 0}, "INTAKE_RETENTION_DAYS"),
    ({"retention_days": -5}, "INTAKE_RETENTION_DAYS"),
    ({"private_retention_days": "1.5"}, "INTAKE_PRIVATE_RETENTION_DAYS"),
    ({"private_retention_days": 0}, "INTAKE_PRIVATE_RETENTION_DAYS"),
    ({"retention_days": 30, "private_retention_days": 60}, "INTAKE_PRIVATE_RETENTION_DAYS"),
    ({"purge_interval": 0}, "INTAKE_PURGE_INTERVAL"),
    ({"purge_interval": "hourly"}, "INTAKE_PURGE_INTERVAL"),
    ({"task_metrics_flush_seconds": -1}, "INTAKE_TASK_METRICS_FLUSH_SECONDS"),
])
def test_bad_values_name_the_setting(overrides: dict, named: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError, match=named) as raised:
        load_settings(**overrides)
    assert "\n" not in str(raised.value)


def test_defaults_keep_private_cases_shorter() -> None:
    settings = load_settings()
    assert settings.private_retention_days < settings.retention_days
    assert load_settings(retention_days=10, private_retention_days=10).private_retention_days == 10
