"""Settings: the embedded default needs nothing; production refuses missing secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_service(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEYS", "HASH_KEY", "DATABASE_URL", "ENVIRONMENT")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_production_without_secret_keys_exits_naming_the_setting(tmp_path):
    result = run_service(["serve", "--port", "0"], {"ENVIRONMENT": "production",
                                                    "HASH_KEY": "x" * 32}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEYS" in result.stderr
    assert "HASH_KEY" not in result.stderr


def test_production_with_default_secret_refused(tmp_path):
    result = run_service(["migrate"], {"ENVIRONMENT": "production", "SECRET_KEYS": "change-me",
                                       "HASH_KEY": "y" * 32}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEYS" in result.stderr


def test_development_secrets_are_generated_once_and_persisted(tmp_path):
    first = Settings(data_dir=tmp_path, _env_file=None).finalize()
    second = Settings(data_dir=tmp_path, _env_file=None).finalize()
    assert first.secret_keys and first.hash_key
    assert first.secret_keys == second.secret_keys and first.hash_key == second.hash_key
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0
    assert first.database_url == f"sqlite:///{tmp_path / 'service.db'}"


def test_secret_keys_are_a_comma_separated_ring(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEYS", "old-key-aaaaaaaaaaaa, new-key-bbbbbbbbbbbb")
    s = Settings(data_dir=tmp_path, _env_file=None).finalize()
    assert s.secret_keys == ["old-key-aaaaaaaaaaaa", "new-key-bbbbbbbbbbbb"]
