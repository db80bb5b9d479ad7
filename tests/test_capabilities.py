"""One capability registry: the app, the command line and the worker all read
`service.capabilities.CAPABILITIES`, and no capability folder is left out of it."""

from __future__ import annotations

from service import capabilities, cli, transfer
from service.app import create_app
from service.background import loops
from tests.conftest import make_settings
from tests.test_import_graph import PACKAGE

PLUG_INS = ("routes.py", "commands.py", "jobs.py", "senders.py")


def test_every_folder_that_plugs_in_is_registered():
    folders = {p.name for p in PACKAGE.iterdir()
               if p.is_dir() and any((p / name).exists() for name in PLUG_INS)}
    assert folders == set(capabilities.CAPABILITIES)


def test_the_app_mounts_every_registered_route(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path}/unused.db", tmp_path))
    mounted = {route.path for route in app.routes}
    for attr, prefix in (("api_routes", "/v1"), ("page_routes", "")):
        handlers = capabilities.routes(attr)
        assert handlers
        for handler in handlers:
            for path in handler.paths:
                assert (prefix + path).rstrip("/") in mounted, path


def test_the_command_line_and_the_worker_read_the_same_registry():
    cli._load_extra_commands()
    commands = set(capabilities.collect("commands", "COMMANDS")) | set(transfer.COMMANDS)
    assert list(transfer.transfers()) == ["contacts", "suppressions"]  # each from its folder
    assert {"import", "export", "retention", "smtp", "seed-demo"} <= commands
    choices = cli.build_parser()._subparsers._group_actions[0].choices
    assert commands <= set(choices)
    assert set(capabilities.collect("jobs", "LOOPS")) | {"outbox"} == set(loops())
