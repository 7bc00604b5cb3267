"""The hub as gunicorn serves it in tests/test_hub.py: the settings come as JSON in HUB_TEST_CONFIG, and
each answer names the worker that gave it (X-Worker-Pid)."""
from __future__ import annotations

import json
import os

from flask import Flask

from flask_wecom import WeCom

app = Flask("hub_gunicorn", instance_path=os.environ["HUB_TEST_INSTANCE"])
app.config.update(json.loads(os.environ["HUB_TEST_CONFIG"]))
WeCom(app)


@app.after_request
def name_the_worker(response):
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response
