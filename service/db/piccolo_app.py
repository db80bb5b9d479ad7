"""Piccolo app: the tables and the top-level `migrations/` folder."""

from piccolo.conf.apps import AppConfig

from service.db.migrate import MIGRATIONS_DIR
from service.db.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="service",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
