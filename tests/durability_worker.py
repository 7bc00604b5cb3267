"""A provider app in a process of its own, for tests that SIGKILL it mid-exchange.

    python tests/durability_worker.py '<JSON of Flask config, with "INSTANCE_PATH">'

Prints the base URL it serves on, then serves until killed.
"""
from __future__ import annotations

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from flask import Flask  # noqa: E402

from flask_wecom import WeCom  # noqa: E402
from flask_wecom.testing.server import serve_app  # noqa: E402


def main() -> None:
    config = json.loads(sys.argv[1])
    app = Flask("durability_worker", instance_path=config.pop("INSTANCE_PATH"))
    start_recovery = config.pop("START_RECOVERY", False)
    app.config.update(config)
    wecom = WeCom(app)
    if start_recovery:  # as deploy/wsgi.py does: the sweeper runs before any request arrives
        wecom.start_recovery(app)
    handle = serve_app(app)
    print(handle.url, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
