"""``config.settings_from_environment``: secrets a container mounts as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.config import SECRETS_DIR_VARIABLE, settings_from_environment


def test_a_mounted_file_gives_a_secret_and_a_variable_of_the_same_name_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smtp_password").write_text("from-a-file")
    (tmp_path / "DATABASE_URL").write_text("postgresql://notifier@db.internal/notifier")
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = settings_from_environment()
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "from-a-file"
    assert settings.database_url.get_secret_value().endswith("@db.internal/notifier")
    monkeypatch.setenv("SMTP_PASSWORD", "from-the-environment")
    assert settings_from_environment().smtp_password.get_secret_value() == "from-the-environment"  # type: ignore[union-attr]


def test_no_folder_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path / "absent"))
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    assert settings_from_environment().smtp_password is None
