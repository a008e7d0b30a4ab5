"""XML in and out of the S3 API."""

from __future__ import annotations

import datetime
from typing import Any
from xml.etree import ElementTree

from monostack.object.s3.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def element(tag: str, text: Any = None, **children: Any) -> ElementTree.Element:
    node = ElementTree.Element(tag)
    if text is not None:
        node.text = str(text)
    for name, value in children.items():
        sub(node, name, value)
    return node


def sub(parent: ElementTree.Element, tag: str, text: Any = None) -> ElementTree.Element:
    node = ElementTree.SubElement(parent, tag)
    if text is not None:
        node.text = str(text)
    return node


def dumps(root: ElementTree.Element) -> bytes:
    root.set("xmlns", NS)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8",
                                                                              xml_declaration=False)


def loads(body: bytes, root_tag: str) -> ElementTree.Element:
    """A client's XML document (namespaces dropped); MalformedXML when it is not one or not that one."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise S3Error("MalformedXML")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise S3Error("MalformedXML") from None
    for node in root.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    if root.tag != root_tag:
        raise S3Error("MalformedXML")
    return root


def s3_timestamp(swift_value: str | None) -> str:
    """Swift listing time ("2024-01-02T03:04:05.123456") -> S3's ("2024-01-02T03:04:05.123Z")."""
    if not swift_value:
        return "1970-01-01T00:00:00.000Z"
    value = swift_value.rstrip("Z")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_to_s3(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
