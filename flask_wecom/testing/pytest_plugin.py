"""pytest plugin: the ``fake_wecom`` fixture (a served :class:`~flask_wecom.testing.FakeWeCom`).

Registered through the ``pytest11`` entry point ``flask_wecom`` in setup.py, so any
project that installs flask-wecom gets it; without the install, enable it with
``-p flask_wecom.testing.pytest_plugin`` or ``pytest_plugins = ["flask_wecom.testing.pytest_plugin"]``.

::

    def test_first_login(fake_wecom, tmp_path):
        app = Flask(__name__)
        app.config.update(SECRET_KEY="x" * 32, **fake_wecom.flask_config(tmp_path))
        WeCom(app)
        ...
        client = app.test_client()
        fake_wecom.push_suite_ticket(client)
        fake_wecom.authorize(client)
        page = fake_wecom.login(client, "zhangsan")   # the page at next="/", logged in as 张三

    @pytest.mark.fake_wecom(app_type="third_party", trusted_domain="app.example.com")
    def test_third_party(fake_wecom): ...

    # an app served on 127.0.0.1:<port> doing in-client OAuth: real WeCom would refuse that
    # redirect URI (no IP, no port in a 可信域名), so opt in to the simulator's named leniency
    @pytest.mark.fake_wecom(trusted_domain="127.0.0.1:5000", allow_local_redirects=True)
    def test_local_oauth(fake_wecom): ...

The marker's keyword arguments go to ``FakeWeCom(...)``.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from . import FakeWeCom


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_wecom(**kwargs): keyword arguments for the FakeWeCom(...) of the fake_wecom fixture",
    )


@pytest.fixture
def fake_wecom(request: pytest.FixtureRequest) -> Iterator[FakeWeCom]:
    """A fresh FakeWeCom serving real HTTP on 127.0.0.1:<free port> for this test (``.url``)."""
    marker = request.node.get_closest_marker("fake_wecom")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    fake = FakeWeCom(**kwargs)
    with fake.serve():
        yield fake
