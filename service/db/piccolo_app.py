"""Piccolo app: the tables and the top-level `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from service.db.tables import TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

APP_CONFIG = AppConfig(
    app_name="service",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
