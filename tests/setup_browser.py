"""Make sure Debian's chromium is installed for the page tests (Playwright drives it)."""

import shutil
import subprocess
import sys

if shutil.which("chromium") is None:
    print("installing Debian's chromium for the browser tests ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    result = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False)
    if result.returncode != 0:
        sys.exit("could not install chromium (apt-get install chromium); the page tests need it")
