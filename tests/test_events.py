"""Parsing decrypted callback messages (documents 90376, 96466, 97172, 90628, 90642, 97175)."""
from __future__ import annotations

import pytest

from flask_wecom.errors import ParseXMLError
from flask_wecom.events import parse_event


def test_suite_ticket_event():
    # document 90628's sample (note the stray space inside InfoType's element in the official sample)
    event = parse_event(
        "<xml><SuiteId><![CDATA[ww4asffe99e54c0fxxxx]]></SuiteId>"
        "<InfoType> <![CDATA[suite_ticket]]></InfoType><TimeStamp>1403610513</TimeStamp>"
        "<SuiteTicket><![CDATA[asdfasfdasdfasdf]]></SuiteTicket></xml>"
    )
    assert event.type == "suite_ticket" and event.is_template_event
    assert event.suite_id == "ww4asffe99e54c0fxxxx"
    assert event.suite_ticket == "asdfasfdasdfasdf"
    assert event.timestamp == 1403610513
    assert "asdfasfdasdfasdf" not in repr(event)


def test_create_auth_event_keeps_auth_code_out_of_repr():
    event = parse_event(
        "<xml><SuiteId><![CDATA[dkSuite]]></SuiteId><AuthCode><![CDATA[AUTHCODE]]></AuthCode>"
        "<InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>1403610513</TimeStamp>"
        "<State><![CDATA[123]]></State><ExtraInfo></ExtraInfo></xml>"
    )
    assert event.type == "create_auth" and event.auth_code == "AUTHCODE" and event.state == "123"
    assert "AUTHCODE" not in repr(event)


def test_cancel_auth_keeps_corp_id_case():
    event = parse_event(
        "<xml><SuiteId><![CDATA[dkS]]></SuiteId><InfoType><![CDATA[cancel_auth]]></InfoType>"
        "<TimeStamp>1403610513</TimeStamp><AuthCorpId><![CDATA[wpAbCdEf-Encrypted]]></AuthCorpId></xml>"
    )
    assert event.type == "cancel_auth" and event.auth_corp_id == "wpAbCdEf-Encrypted"


def test_app_event_and_message_types():
    # document 90376: enter_agent sample; documents 96301 / 96302: change_contact on the app callback for 代开发
    enter = parse_event(
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>"
        "<CreateTime>1408091189</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID></xml>"
    )
    assert enter.type == "enter_agent" and not enter.is_template_event
    assert enter.to_user == "toUser" and enter.from_user == "FromUser" and enter.agent_id == "1"
    assert enter.timestamp == 1408091189
    contact = parse_event(
        "<xml><ToUserName>corp</ToUserName><FromUserName>sys</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>event</MsgType><Event>change_contact</Event><ChangeType>create_user</ChangeType>"
        "<UserID>zhangsan</UserID></xml>"
    )
    assert contact.type == "change_contact" and contact.change_type == "create_user"
    assert contact.get("UserID") == "zhangsan"
    text = parse_event("<xml><MsgType>text</MsgType><Content>你好</Content><MsgId>1</MsgId></xml>")
    assert text.type == "text" and text.get("Content") == "你好"


def test_hostile_or_broken_xml_is_a_parse_error():
    with pytest.raises(ParseXMLError):
        parse_event("<xml><MsgType>text</MsgType>")
    with pytest.raises(ParseXMLError):
        parse_event('<!DOCTYPE x [<!ENTITY a "b">]><xml><MsgType>&a;</MsgType></xml>')
