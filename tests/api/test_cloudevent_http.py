"""The CloudEvents HTTP binding (api.cloudevent_http): binary-mode bodies and attribute checks."""

from __future__ import annotations

import pytest

from api.cloudevent_http import EventInvalid, parse_event

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


def test_binary_bodies_by_content_type() -> None:
    text = parse_event({**BINARY, "content-type": "text/plain"}, "héllo".encode())
    assert text == {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "datacontenttype": "text/plain",
        "data": "héllo",
    }
    raw = parse_event({**BINARY, "content-type": "application/octet-stream"}, b"\xff\x00")
    assert (raw["data_base64"], "data" in raw) == ("/wA=", False)
    assert "data" not in parse_event(BINARY, b"")
    cloud = parse_event(
        {**BINARY, "content-type": "application/vnd.x+json", "ce-traceid": "a%2Fb"}, b"[1]"
    )
    assert (cloud["data"], cloud["traceid"]) == ([1], "a/b")


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (
            {**BINARY, "content-type": "application/json"},
            b"{",
            "the body is not JSON (Content-Type application/json)",
        ),
        (
            {**BINARY, "ce-Bad_Name": "x"},
            b"",
            "attribute name `bad_name` is not 1-20 lowercase letters or digits",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'"x"',
            "a structured CloudEvent is a JSON object",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "", "source": "/s", "type": "t"}',
            "`id` must be a non-empty string",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": 1, '
            b'"data_base64": "AA=="}',
            "a CloudEvent has `data` or `data_base64`, not both",
        ),
    ],
)
def test_attribute_problems_are_named(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(EventInvalid) as info:
        parse_event(headers, body)
    assert (str(info.value), info.value.status) == (message, 422)


def test_a_non_json_body_of_another_type_is_unsupported() -> None:
    with pytest.raises(EventInvalid) as info:
        parse_event({"content-type": "text/plain"}, b"hello")
    assert info.value.status == 415
