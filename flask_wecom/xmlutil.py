"""Parse and build the small XML documents WeCom exchanges with callbacks.

Callback bodies come from the internet before their signature is checked, so
they are parsed with expat (the stdlib's C parser) with DTDs, entity
declarations and external references all refused: the handlers for them raise,
which stops expat before it reads any further, as :mod:`defusedxml` does — WeCom
never sends any of them, and each is an attack vector (billion laughs, XXE).
The dict is built straight from expat's events, without the ElementTree that
defusedxml rebuilds in pure Python for every message (that was most of a
callback's parsing time).  Every failure becomes
:class:`~flask_wecom.errors.ParseXMLError` (-40002) so callers have one type to
catch.

No Flask import here: this is a core module.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Union
from xml.parsers import expat

from .errors import GenerateXMLError, ParseXMLError

__all__ = ["MAX_DEPTH", "XMLValue", "parse_xml", "to_xml"]

#: A parsed element: text for a leaf, a dict for an element with children,
#: a list when the same tag repeats under one parent.
XMLValue = Union[str, Dict[str, Any], List[Any]]

#: Deepest nesting :func:`parse_xml` converts.  WeCom payloads are 2-4 levels
#: deep; the cap keeps hostile input from turning into a RecursionError.
MAX_DEPTH = 32

# A conservative subset of XML names: what WeCom uses, and nothing that needs escaping.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
# Characters XML 1.0 cannot carry at all, not even in CDATA or as references.
_NOT_XML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The same characters within ASCII, for a quicker check of ASCII text (an Encrypt value is 20 KB of it).
_ASCII_NOT_XML = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))


def parse_xml(data: Union[str, bytes]) -> Dict[str, Any]:
    """Parse a WeCom XML document into ``{tag: value}`` for the root's children.

    - A leaf element gives its text exactly as sent (CDATA markup removed,
      whitespace kept: a text message's ``Content`` may start with spaces);
      an empty element gives ``""``.
    - An element with children gives a dict of the same shape, recursively
      (e.g. ``<ApprovalInfo><SpNo>..</SpNo></ApprovalInfo>``); text mixed in
      between child elements is dropped.
    - A tag that repeats under one parent gives a list of those values, in
      document order (e.g. several ``<Item>`` under one element).
    - Attributes are ignored (WeCom does not use them); the root tag is not
      checked (it is ``xml`` in practice).

    Raises :class:`ParseXMLError` for anything that is not such a document:
    malformed XML, any ``<!DOCTYPE``/entity declaration/external reference,
    nesting deeper than :data:`MAX_DEPTH`, or input that is not str/bytes.
    Callers should still cap the request body size; that is the web layer's job.
    """
    if not isinstance(data, (str, bytes)):
        raise ParseXMLError(f"expected XML as str or bytes, got {type(data).__name__}")
    builder = _Builder()
    # Namespace processing as ElementTree does it (a prefixed or default-namespace tag is "{uri}name", an
    # unbound prefix is malformed), so values are exactly those of the ElementTree-based parser it replaced.
    parser = expat.ParserCreate(None, "}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd  # called before an internal subset is read
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ParseXMLError(
            f"XML refused: {exc} (DTDs, entities and external references are not allowed)"
        ) from None
    except ParseXMLError:  # too deep, raised by the builder
        raise
    except expat.ExpatError as exc:
        raise ParseXMLError(f"malformed XML: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the contract is "ParseXMLError and nothing else"
        # expat can also raise e.g. LookupError for an unknown encoding declaration.
        raise ParseXMLError(f"unreadable XML ({exc.__class__.__name__})") from None
    root = builder.root
    return root if isinstance(root, dict) else {}


class _Refused(Exception):
    """Raised inside expat's handlers: expat stops at once and Parse re-raises it."""


def _refuse_dtd(*_args: Any) -> NoReturn:
    raise _Refused("DTD")


def _refuse_entity(*_args: Any) -> NoReturn:
    raise _Refused("entity declaration")


def _refuse_external(*_args: Any) -> NoReturn:
    raise _Refused("external reference")


class _Builder:
    """Turns expat's events into :func:`parse_xml`'s values without recursion.

    Each open element is a frame ``[tag, children dict or None, text pieces]``;
    an element's text is kept only while it has no child (mixed text is dropped).
    """

    __slots__ = ("stack", "root")

    def __init__(self) -> None:
        self.stack: List[List[Any]] = []
        self.root: Optional[XMLValue] = None

    def start(self, tag: str, _attrs: Any) -> None:
        stack = self.stack
        if stack:
            if len(stack) > MAX_DEPTH:
                raise ParseXMLError(f"XML nested deeper than {MAX_DEPTH} levels")
            parent = stack[-1]
            if parent[1] is None:
                parent[1] = {}
        if "}" in tag:
            tag = "{" + tag
        stack.append([tag, None, []])

    def data(self, text: str) -> None:
        frame = self.stack[-1]  # expat reports no text outside the root element
        if frame[1] is None:
            frame[2].append(text)

    def end(self, _tag: str) -> None:
        tag, children, texts = self.stack.pop()
        value: XMLValue = children if children is not None else "".join(texts)
        if not self.stack:
            self.root = value
            return
        siblings = self.stack[-1][1]
        if tag not in siblings:
            siblings[tag] = value
        elif isinstance(siblings[tag], list):  # values are str or dict: a list is one of ours
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]


def to_xml(fields: Mapping[str, Union[str, int]], root: str = "xml") -> str:
    """Build ``<xml><Key><![CDATA[value]]></Key>…</xml>`` in mapping order.

    ``int`` values are written bare (``<TimeStamp>1409659813</TimeStamp>``), as
    the official samples do; ``str`` values go in CDATA.  A ``]]>`` inside a
    value is split across two CDATA sections and ``\\r`` is written as ``&#13;``
    (a parser would otherwise normalise it to ``\\n``), so
    ``parse_xml(to_xml(d)) == d`` for every value XML can carry.

    Raises :class:`GenerateXMLError` for a tag that is not a plain XML name, a
    value that is neither str nor int (``bool`` included), or a character XML
    1.0 cannot represent at all (NUL and most other C0 controls, lone surrogates).
    """
    if not isinstance(root, str) or not _NAME.match(root):
        raise GenerateXMLError(f"invalid XML root tag {root!r}")
    parts = [f"<{root}>"]
    for key, value in fields.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise GenerateXMLError(f"invalid XML tag {key!r}")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise GenerateXMLError(f"value of <{key}> must be str or int, not {type(value).__name__}")
        if isinstance(value, int):
            parts.append(f"<{key}>{value:d}</{key}>")
            continue
        if value.isascii():
            ascii_value = value.encode("ascii")
            unrepresentable = len(ascii_value.translate(None, _ASCII_NOT_XML)) != len(ascii_value)
        else:
            unrepresentable = _NOT_XML_CHAR.search(value) is not None
        if unrepresentable:
            raise GenerateXMLError(f"value of <{key}> contains a character XML cannot represent")
        body = value
        if "]" in body:  # one-character tests: memchr-fast on long values that hold neither
            body = body.replace("]]>", "]]]]><![CDATA[>")
        if "\r" in body:
            body = body.replace("\r", "]]>&#13;<![CDATA[")
        parts.append(f"<{key}><![CDATA[{body}]]></{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)
