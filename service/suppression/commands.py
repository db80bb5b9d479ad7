"""The suppression kinds of `python -m service import|export` (dispatched by service/transfer.py):
`import suppressions` (importer.py) and `export suppressions` (exporter.py)."""

from __future__ import annotations

import argparse
import sys

from service.suppression import exporter, importer


def run_import(args: argparse.Namespace) -> int:
    if getattr(args, "map", None):
        print("error: --map applies to contacts only", file=sys.stderr)
        return 2
    return importer.run_import(args)


TRANSFERS = {"suppressions": (run_import, exporter.run_export)}
