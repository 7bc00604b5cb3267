"""flask_wecom.xmlutil: parsing untrusted callback XML and building replies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_wecom.errors import GenerateXMLError, ParseXMLError, WeComError
from flask_wecom.xmlutil import MAX_DEPTH, parse_xml, to_xml


def raises(exc_type, code, func, *args, **kwargs):
    """Assert that ``func`` raises exactly ``exc_type`` (not a subclass, not a sibling) with ``code``."""
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    assert type(info.value) is exc_type
    assert info.value.code == code
    return info.value


# -- parse_xml ---------------------------------------------------------------------


def test_parse_app_envelope():
    # Envelope shape from documents 96466 / 97172.
    body = (
        "<xml>\n   <ToUserName><![CDATA[toUser]]></ToUserName>\n"
        "   <AgentID><![CDATA[toAgentID]]></AgentID>\n"
        "   <Encrypt><![CDATA[msg_encrypt]]></Encrypt>\n</xml>"
    )
    assert parse_xml(body) == {"ToUserName": "toUser", "AgentID": "toAgentID", "Encrypt": "msg_encrypt"}


def test_parse_plain_text_empty_elements_and_cdata_whitespace():
    doc = "<xml><CreateTime>1408091189</CreateTime><EventKey><![CDATA[]]></EventKey><E/><C><![CDATA[  hi \n]]></C></xml>"
    assert parse_xml(doc) == {"CreateTime": "1408091189", "EventKey": "", "E": "", "C": "  hi \n"}


def test_parse_bytes_with_declaration_and_utf8():
    doc = '<?xml version="1.0" encoding="UTF-8"?><xml><Content>你好</Content></xml>'.encode()
    assert parse_xml(doc) == {"Content": "你好"}


def test_parse_str_with_declaration():
    assert parse_xml('<?xml version="1.0" encoding="UTF-8"?><xml><A>x</A></xml>') == {"A": "x"}


def test_parse_nested_and_repeated():
    doc = (
        "<xml><InfoType>change_contact</InfoType>"
        "<ExtAttr><Item><Name>a</Name><Value>1</Value></Item><Item><Name>b</Name><Value>2</Value></Item></ExtAttr>"
        "<Dup>1</Dup><Dup>2</Dup><Dup>3</Dup></xml>"
    )
    assert parse_xml(doc) == {
        "InfoType": "change_contact",
        "ExtAttr": {"Item": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]},
        "Dup": ["1", "2", "3"],
    }


def test_parse_ignores_attributes_comments_and_mixed_text():
    doc = '<xml><!-- c --><A k="v">1</A><B>text<C>2</C>tail</B><?pi x?></xml>'
    assert parse_xml(doc) == {"A": "1", "B": {"C": "2"}}


def test_parse_root_without_children():
    assert parse_xml("<xml/>") == {}
    assert parse_xml("<xml>just text</xml>") == {}


def test_parse_depth_limit():
    def nested(levels):
        return "<xml>" + "<a>" * levels + "x" + "</a>" * levels + "</xml>"

    assert parse_xml(nested(MAX_DEPTH))  # WeCom needs 2-4; the cap is generous
    raises(ParseXMLError, -40002, parse_xml, nested(MAX_DEPTH + 1))
    raises(ParseXMLError, -40002, parse_xml, nested(5000))  # no RecursionError


@pytest.mark.parametrize(
    "data",
    [
        "",
        b"",
        "not xml",
        "<xml>",
        "<xml><A></B></xml>",
        "<a/><b/>",
        "<xml><A>&undefined;</A></xml>",
        b"\xff\xfe\x00garbage",
        b"<xml><A>\xff</A></xml>",  # invalid UTF-8
        b"<?xml version='1.0' encoding='no-such-codec'?><xml/>",
        "<xml><A>\x00</A></xml>",
    ],
)
def test_parse_malformed(data):
    raises(ParseXMLError, -40002, parse_xml, data)


@pytest.mark.parametrize("data", [None, 42, ["<xml/>"], bytearray(b"<xml/>")])
def test_parse_wrong_type(data):
    raises(ParseXMLError, -40002, parse_xml, data)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><Encrypt>&lol9;</Encrypt></xml>"""

HOSTILE = {
    "billion_laughs": BILLION_LAUGHS,
    "quadratic_blowup": '<!DOCTYPE xml [<!ENTITY a "'
    + "A" * 10000
    + '">]><xml><E>'
    + "&a;" * 1000
    + "</E></xml>",
    "external_entity_file": '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><Encrypt>&xxe;</Encrypt></xml>",
    "external_entity_http": '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]><xml><A>&xxe;</A></xml>',
    "external_dtd": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><A>1</A></xml>',
    "parameter_entity": '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><xml/>',
    "internal_entity": '<!DOCTYPE xml [<!ENTITY name "value">]><xml><A>&name;</A></xml>',
    "unused_entity": '<!DOCTYPE xml [<!ENTITY name "value">]><xml><A>1</A></xml>',
    "bare_doctype": "<!DOCTYPE xml><xml><A>1</A></xml>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_parse_refuses_dtd_and_entities(name):
    raises(ParseXMLError, -40002, parse_xml, HOSTILE[name])
    raises(ParseXMLError, -40002, parse_xml, HOSTILE[name].encode("utf-8"))


@settings(deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_parse_arbitrary_input_only_raises_parse_error(data):
    try:
        result = parse_xml(data)
    except WeComError as exc:
        assert type(exc) is ParseXMLError
    else:
        assert isinstance(result, dict)


@settings(deadline=None)
@given(st.text(alphabet="<>/![]CDATA&;x \"'=?-%"))
def test_parse_markup_soup_only_raises_parse_error(data):
    try:
        parse_xml("<xml>" + data + "</xml>")
    except WeComError as exc:
        assert type(exc) is ParseXMLError


# -- to_xml ------------------------------------------------------------------------


def test_to_xml_format():
    out = to_xml({"Encrypt": "abc+/=", "MsgSignature": "sig", "TimeStamp": 1409659813, "Nonce": "42"})
    assert out == (
        "<xml><Encrypt><![CDATA[abc+/=]]></Encrypt><MsgSignature><![CDATA[sig]]></MsgSignature>"
        "<TimeStamp>1409659813</TimeStamp><Nonce><![CDATA[42]]></Nonce></xml>"
    )
    assert to_xml({}, root="reply") == "<reply></reply>"
    assert to_xml({"N": -1}) == "<xml><N>-1</N></xml>"


@pytest.mark.parametrize(
    "value",
    ["]]>", "a]]>b]]>c", "]]]]>>", "<b>&amp;</b>", "\r\n", "a\rb", "\r", "\t tab\n", "emoji 😀 中文", ""],
)
def test_to_xml_tricky_values_round_trip(value):
    assert parse_xml(to_xml({"V": value})) == {"V": value}


@pytest.mark.parametrize("value", ["\x00", "a\x01b", "\x1f", "\ud800", "\ufffe", "\uffff"])
def test_to_xml_refuses_unrepresentable_chars(value):
    raises(GenerateXMLError, -40011, to_xml, {"V": value})


@pytest.mark.parametrize("key", ["", "1A", "a b", "<x>", "a>b", "é", "x:y", None, 1])
def test_to_xml_refuses_bad_tags(key):
    raises(GenerateXMLError, -40011, to_xml, {key: "v"})


@pytest.mark.parametrize("root", ["", "a b", "<xml>", None])
def test_to_xml_refuses_bad_root(root):
    raises(GenerateXMLError, -40011, to_xml, {"A": "v"}, root=root)


@pytest.mark.parametrize("value", [True, False, None, 1.5, b"bytes", ["x"], {"a": "b"}])
def test_to_xml_refuses_other_value_types(value):
    raises(GenerateXMLError, -40011, to_xml, {"V": value})


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


TAGS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,12}", fullmatch=True)
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",)).filter(_xml_char))


@settings(deadline=None)
@given(st.dictionaries(TAGS, st.one_of(XML_TEXT, st.integers())))
def test_to_xml_parse_xml_round_trip(fields):
    assert parse_xml(to_xml(fields)) == {k: str(v) for k, v in fields.items()}


# -- the expat parser against the defusedxml one it replaced (issue 12) -------------------


def reference_parse(data):
    """0.1.0's parse_xml: defusedxml's ElementTree, then the same conversion. Raises on refusal."""
    from defusedxml.ElementTree import fromstring

    root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)

    def convert(element, depth):
        children = list(element)
        if not children:
            return element.text or ""
        if depth >= MAX_DEPTH:
            raise ValueError("too deep")
        result = {}
        for child in children:
            if not isinstance(child.tag, str):
                continue
            value = convert(child, depth + 1)
            if child.tag not in result:
                result[child.tag] = value
            elif isinstance(result[child.tag], list):
                result[child.tag].append(value)
            else:
                result[child.tag] = [result[child.tag], value]
        return result

    value = convert(root, 0)
    return value if isinstance(value, dict) else {}


def both(data):
    """(new result or None when refused, reference result or None when refused)."""
    try:
        new = parse_xml(data)
    except ParseXMLError:
        new = None
    try:
        old = reference_parse(data)
    except Exception:  # noqa: BLE001 - any refusal of the reference
        old = None
    return new, old


DOC_PARTS = ["<A>", "</A>", "<B>", "</B>", "<A/>", "x", " ", "\r\n", "中", "<![CDATA[", "]]>", "<!-- c -->",
             "&amp;", "&lt;", "&#65;", "&#x4e2d;", "&#13;", "<?pi d?>", '<C k="v">', "</C>", "&bad;", "<", "&",
             '<n:D xmlns:n="urn:n">', "</n:D>", "<n:D>", '<E xmlns="urn:e">', "</E>", "<p:F/>"]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(DOC_PARTS), max_size=12))
def test_same_values_as_the_defusedxml_parser(parts):
    doc = "<xml>" + "".join(parts) + "</xml>"
    new, old = both(doc)
    assert new == old
    assert both(doc.encode("utf-8")) == (new, old)


@pytest.mark.parametrize("doc", [
    '<xml><a:b xmlns:a="urn:x">1</a:b></xml>', "<xml><a:b>1</a:b></xml>", '<xml xmlns="urn:d"><A>1</A></xml>',
    '<xml><A xmlns="">1</A><B xmlns="urn:b"><C>2</C></B></xml>',
])
def test_namespaces_as_elementtree_has_them(doc):
    assert both(doc)[0] == both(doc)[1]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_reference_refuses_the_hostile_documents_too(name):
    assert both(HOSTILE[name]) == (None, None)


def test_external_references_are_never_fetched():
    # A real HTTP server the hostile documents point at: refusing must happen before any fetch.
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'<!ENTITY x "fetched">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        for doc in (
            f'<!DOCTYPE xml SYSTEM "{url}/dtd"><xml><A>&x;</A></xml>',
            f'<!DOCTYPE xml [<!ENTITY % p SYSTEM "{url}/p"> %p;]><xml><A>&x;</A></xml>',
            f'<!DOCTYPE xml [<!ENTITY e SYSTEM "{url}/e">]><xml><A>&e;</A></xml>',
            f'<!DOCTYPE xml PUBLIC "-//X//Y" "{url}/public"><xml/>',
        ):
            raises(ParseXMLError, -40002, parse_xml, doc)
        # the server does answer: a plain request reaches it
        import urllib.request

        urllib.request.urlopen(url + "/probe", timeout=5).read()
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["/probe"]


def test_external_file_entity_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    doc = f'<!DOCTYPE xml [<!ENTITY s SYSTEM "{secret.as_uri()}">]><xml><A>&s;</A></xml>'
    err = raises(ParseXMLError, -40002, parse_xml, doc)
    assert "TOP-SECRET" not in str(err)


def test_billion_laughs_refused_at_the_doctype():
    # Refused when the DOCTYPE starts: nothing of the entities is expanded, however large the document.
    err = raises(ParseXMLError, -40002, parse_xml, BILLION_LAUGHS.replace("lol9;", "lol9;" * 1000))
    assert "DTD" in str(err)


def test_huge_nesting_refused_without_recursion():
    raises(ParseXMLError, -40002, parse_xml, "<xml>" + "<a>" * 200_000 + "</a>" * 200_000 + "</xml>")


def test_huge_undeclared_entities_refused():
    raises(ParseXMLError, -40002, parse_xml, "<xml><A>" + "&e;" * 100_000 + "</A></xml>")


def test_huge_plain_document_parses_whole():
    # Size is the web layer's limit (WECOM_CALLBACK_MAX_BODY); a large benign body is read exactly.
    text = "a]b" * 1_000_000
    doc = "<xml><Encrypt><![CDATA[" + text.replace("]", "") + "]]></Encrypt><N>" + "x" * 100_000 + "</N></xml>"
    assert parse_xml(doc.encode()) == {"Encrypt": text.replace("]", ""), "N": "x" * 100_000}


def test_text_before_and_after_the_root_is_refused():
    for doc in ("x<xml/>", "<xml/>x", "<xml/><xml/>", "<!DOCTYPE xml><xml/>"):
        raises(ParseXMLError, -40002, parse_xml, doc)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_to_xml_ascii_check_refuses_exactly_what_xml_cannot_carry(value):
    # ASCII values take a quicker check than the regex: both must refuse the same characters.
    from flask_wecom.xmlutil import _NOT_XML_CHAR

    try:
        out = to_xml({"V": value})
    except GenerateXMLError:
        assert _NOT_XML_CHAR.search(value)
    else:
        assert not _NOT_XML_CHAR.search(value)
        assert parse_xml(out) == {"V": value}
