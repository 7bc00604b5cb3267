"""The hub as gunicorn serves it in tests/test_hub.py: the settings come as JSON in HUB_TEST_CONFIG, and
each answer names the worker that gave it (X-Worker-Pid)."""
from __future__ import annotations

import json
import os
import time

from flask import Flask, jsonify

from flask_wecom import WeCom

app = Flask("hub_gunicorn", instance_path=os.environ["HUB_TEST_INSTANCE"])
app.config.update(json.loads(os.environ["HUB_TEST_CONFIG"]))
WeCom(app)


@app.route("/busy-jwks")
def busy_jwks():
    """The hub's JWKS after a second's work: two of these at once keep both sync workers busy, so each is
    answered by another worker (a worker that is busy accepts no second connection)."""
    time.sleep(1.0)
    return jsonify(app.extensions["wecom"].hub.keys.jwks())


@app.after_request
def name_the_worker(response):
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response
