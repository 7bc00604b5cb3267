"""Parse and build the small XML documents WeCom exchanges with callbacks.

Callback bodies come from the internet before their signature is checked, so
parsing goes through :mod:`defusedxml` with DTDs, entity declarations and
external references all refused: WeCom never sends any of them, and each is an
attack vector (billion laughs, XXE).  Every failure becomes
:class:`~flask_wecom.errors.ParseXMLError` (-40002) so callers have one type to
catch.

No Flask import here: this is a core module.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Union
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

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
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseXMLError(
            f"XML refused: {exc.__class__.__name__} (DTDs, entities and external references are not allowed)"
        ) from exc
    except ParseError as exc:
        raise ParseXMLError(f"malformed XML: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the contract is "ParseXMLError and nothing else"
        # expat can also raise e.g. LookupError for an unknown encoding declaration.
        raise ParseXMLError(f"unreadable XML ({exc.__class__.__name__})") from exc
    value = _convert(root, 0)
    return value if isinstance(value, dict) else {}


def _convert(element: Element, depth: int) -> XMLValue:
    children = list(element)
    if not children:
        return element.text or ""
    if depth >= MAX_DEPTH:
        raise ParseXMLError(f"XML nested deeper than {MAX_DEPTH} levels")
    result: Dict[str, Any] = {}
    for child in children:
        tag = child.tag
        if not isinstance(tag, str):  # comments / processing instructions, if a parser keeps them
            continue
        value = _convert(child, depth + 1)
        if tag not in result:
            result[tag] = value
        elif isinstance(result[tag], list):  # _convert never returns a list: this one is ours
            result[tag].append(value)
        else:
            result[tag] = [result[tag], value]
    return result


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
        if _NOT_XML_CHAR.search(value):
            raise GenerateXMLError(f"value of <{key}> contains a character XML cannot represent")
        body = value.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
        parts.append(f"<{key}><![CDATA[{body}]]></{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)
