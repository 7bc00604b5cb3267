"""The testing kit on a user's first try: the test of issue 11 verbatim, then its variants (another
member, web/QR login, ``next``, twice in one folder, an app served over HTTP), and the mistakes the
kit must name (a 404 anywhere, WeCom's error page). The README's own copy runs in test_packaging.py."""
# ruff: noqa: I001 - the first test is the issue's text verbatim, imports included
from flask import Flask
from flask_wecom import WeCom, login_required, wecom_user


def test_first_login(fake_wecom, tmp_path):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 32, **fake_wecom.flask_config(tmp_path))
    WeCom(app)

    @app.get("/")
    @login_required
    def index():
        return f"{wecom_user.name}|{wecom_user.email}"

    client = app.test_client()
    fake_wecom.push_suite_ticket(client)   # WeCom pushes the suite ticket to the app
    fake_wecom.authorize(client)            # the customer's admin authorizes the 代开发 app
    page = fake_wecom.login(client, "zhangsan").get_data(as_text=True)  # the whole round trip
    assert page == "张三|zhangsan@corp1.example.com"


# -- variants ----------------------------------------------------------------------------------

import pytest  # noqa: E402 - the verbatim test above keeps its own imports only
import requests  # noqa: E402

from flask_wecom.testing import AuthorizeError, FakeWeCom, NotFoundError  # noqa: E402
from flask_wecom.testing.server import serve_app  # noqa: E402


def _app(fake, folder, name=__name__):
    app = Flask(name)
    app.config.update(SECRET_KEY="x" * 32, **fake.flask_config(folder))
    WeCom(app)

    @app.get("/")
    @login_required
    def index():
        return f"{wecom_user.name}|{wecom_user.email}"

    @app.get("/somewhere")
    @login_required
    def somewhere():
        return f"somewhere|{wecom_user.name}|{wecom_user.email}"

    return app


def _ready(fake, client):
    assert fake.push_suite_ticket(client).success
    assert fake.authorize(client).success
    # authorize() returned after the exchange: the corp is in the store already
    assert [c.corp_id for c in WeCom.state(client.application).store.list_corps()] == [fake.corp.auth_corp_id]


def test_another_member(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    assert fake_wecom.login(client, "lisi").get_data(as_text=True) == "李四|lisi@corp1.example.com"


def test_qr_login_gives_an_empty_email_never_none(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    response = fake_wecom.login(client, "zhangsan", via="qr")
    assert response.status_code == 200 and response.get_data(as_text=True) == "张三|"
    # the web-login code brings no user_ticket, so getuserdetail (the email) is never asked
    assert not fake_wecom.calls_to("/cgi-bin/auth/getuserdetail")
    assert fake_wecom.calls_to("/cgi-bin/auth/getuserinfo")


def test_next_page(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    response = fake_wecom.login(client, "lisi", next="/somewhere")
    assert response.get_data(as_text=True) == "somewhere|李四|lisi@corp1.example.com"
    assert client.get("/").get_data(as_text=True) == "李四|lisi@corp1.example.com"  # the client keeps the login


def test_twice_in_one_folder(tmp_path):
    """Two runs (two fakes: new ids and secrets) with the same folder: the second sees none of the first's
    corps, tokens or tickets."""
    folder = tmp_path / "shared"
    for _ in range(2):
        fake = FakeWeCom()
        with fake.serve():
            test_first_login(fake, folder)
            test_first_login(fake, folder)  # and twice with the same fake: the same store, still one corp
    assert len([p for p in folder.iterdir() if p.name.startswith("fake-wecom-")]) == 2


def test_old_call_style_keeps_working(fake_wecom, tmp_path):
    app = _app(fake_wecom, tmp_path)
    client = app.test_client()
    assert fake_wecom.push_suite_ticket("http://localhost/wecom/callback", client=client).success
    assert fake_wecom.authorize("http://localhost/wecom/callback", client=client).success
    assert fake_wecom.flask_config("internal")["WECOM_APP_TYPE"] == "internal"
    assert fake_wecom.flask_config(tmp_path, app_type="internal")["WECOM_APP_TYPE"] == "internal"
    assert fake_wecom.login(client, "zhangsan").get_data(as_text=True) == "张三|zhangsan@corp1.example.com"


def test_an_app_served_over_http(fake_wecom, tmp_path):
    """A base URL instead of a test client: pushes, authorization and the login over real HTTP."""
    app = _app(fake_wecom, tmp_path)
    handle = serve_app(app)
    try:
        session = requests.Session()
        assert fake_wecom.push_suite_ticket(handle.url).success
        assert fake_wecom.authorize(handle.url).success  # exchanged before answering: WECOM_EXCHANGE_IN_BACKGROUND
        assert [c.corp_id for c in WeCom.state(app).store.list_corps()] == [fake_wecom.corp.auth_corp_id]
        fake_wecom.allow_local_redirects = True  # 127.0.0.1:<port> as the redirect host: the named leniency
        fake_wecom.corp.web_login_domain = handle.url.split("//", 1)[1]
        response = fake_wecom.login(handle.url, "lisi", via="qr", session=session)
        assert response.status_code == 200 and response.text == "李四|"
        assert session.get(handle.url + "/somewhere", timeout=10).text == "somewhere|李四|"
    finally:
        handle.close()


def test_several_corps(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    second = fake_wecom.add_corp(name="第二客户")
    fake_wecom.authorize(client, corp=second)
    userid = second.members[0].userid
    page = fake_wecom.login(client, userid, corp=second).get_data(as_text=True)
    assert page == f"{second.members[0].name}|{second.members[0].email}"


# -- what the kit must name --------------------------------------------------------------------


def test_a_push_to_a_404_names_the_url(fake_wecom, tmp_path):
    app = _app(fake_wecom, tmp_path)
    with pytest.raises(NotFoundError) as info:
        fake_wecom.push_suite_ticket("http://localhost/wecom/callbak", client=app.test_client())
    assert "http://localhost/wecom/callbak" in str(info.value) and info.value.url.startswith("http://localhost/")
    bare = Flask("no_wecom")  # WeCom(app) forgotten
    with pytest.raises(NotFoundError, match=r"WeCom\(app\)"):
        fake_wecom.push_suite_ticket(bare.test_client())
    handle = serve_app(bare)
    try:
        with pytest.raises(NotFoundError) as info:
            fake_wecom.authorize(handle.url)
        assert handle.url + "/wecom/callback" in str(info.value)
    finally:
        handle.close()


def test_a_redirect_to_a_404_names_the_url(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    with pytest.raises(NotFoundError, match="http://localhost/nowhere"):
        fake_wecom.login(client, "zhangsan", next="/nowhere")


def test_wecom_error_page_raises(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    with pytest.raises(AuthorizeError):
        fake_wecom.login(client, "nobody-here")


def test_a_failed_login_returns_the_apps_page(fake_wecom, tmp_path):
    """A failure at /wecom/authorized is the app's explained page, returned for the test to read."""
    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    fake_wecom.fail("/cgi-bin/auth/getuserinfo", 60020)
    response = fake_wecom.login(client, "zhangsan")
    assert response.status_code >= 400 and "60020" in response.get_data(as_text=True)


def test_login_needs_a_served_fake(tmp_path):
    with pytest.raises(RuntimeError, match="serve"):
        FakeWeCom().login("http://localhost", "zhangsan")



def test_a_self_built_app(fake_wecom, tmp_path):
    """``app_type="internal"``: the default corp as a self-built app — no pushes, straight to the login."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 32, **fake_wecom.flask_config(tmp_path, app_type="internal"))
    WeCom(app)
    app.add_url_rule("/", "index", login_required(lambda: f"{wecom_user.name}|{wecom_user.email}"))
    assert fake_wecom.login(app.test_client(), "lisi").get_data(as_text=True) == "李四|lisi@corp1.example.com"


@pytest.mark.fake_wecom(app_type="third_party")
def test_a_third_party_app(fake_wecom, tmp_path):
    client = _app(fake_wecom, tmp_path).test_client()
    assert fake_wecom.push_suite_ticket(client).success and fake_wecom.authorize(client).success
    page = fake_wecom.login(client, "zhangsan").get_data(as_text=True)
    # a third-party app reads no name and no email: the name falls back to the UserID it sees, the email is ""
    assert page == f"{fake_wecom.corp.member('zhangsan').open_userid}|"


def test_authorize_says_when_the_app_could_not_store_the_corp(fake_wecom, tmp_path):
    """The app answers create_auth with success even when the exchange fails (WeCom documents no retry):
    authorize() says so at once, instead of a puzzling 404 at the login."""
    from flask_wecom.testing import FakeWeComError

    client = _app(fake_wecom, tmp_path).test_client()
    _ready(fake_wecom, client)
    fake_wecom.advance(7200)  # the suite ticket (valid about 30 minutes) expired
    second = fake_wecom.add_corp(name="第二客户")
    with pytest.raises(FakeWeComError, match="push_suite_ticket") as info:
        fake_wecom.authorize(client, corp=second)
    assert second.auth_corp_id in str(info.value)
    fake_wecom.push_suite_ticket(client)
    fake_wecom.authorize(client, corp=second)
    assert fake_wecom.login(client, second.members[0].userid, corp=second).status_code == 200


def test_an_app_without_an_instance_path_writes_nothing_into_the_repository():
    """Flask(__name__) here would keep its instance folder (flask-wecom's spool…) in tests/instance:
    tests/conftest.py points Flask's default at a temporary folder."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    for app in (Flask(__name__), Flask("no_module_of_this_name")):
        assert root not in pathlib.Path(app.instance_path).resolve().parents, app.instance_path
