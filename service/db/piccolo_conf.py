"""Piccolo configuration (PICCOLO_CONF=service.db.piccolo_conf): the engine from DATABASE_URL.

Piccolo's engine is used for migrations; the service's queries go through `service.db.engine`.
"""

from piccolo.conf.apps import AppRegistry

from service.db.engine import _pg_dsn
from service.db.sqlite import sqlite_path
from service.settings import get_settings

_url = get_settings().database_url

if _url.startswith("sqlite"):
    from pathlib import Path

    from piccolo.engine.sqlite import SQLiteEngine

    _path = sqlite_path(_url)
    Path(_path).parent.mkdir(parents=True, exist_ok=True)
    DB = SQLiteEngine(path=_path)
else:
    from piccolo.engine.postgres import PostgresEngine

    DB = PostgresEngine(config={"dsn": _pg_dsn(_url)})

APP_REGISTRY = AppRegistry(apps=["service.db.piccolo_app"])
