"""A webhook's signature header: a timestamp made of digits that are not ASCII digits (``²`` is a
digit to ``str.isdigit``, not to ``int``) is a malformed signature, even with a matching HMAC."""

from __future__ import annotations

import time

import pytest

from interpreter.webhook_triggers import SignatureRejected, _digest, sign, verify

SECRET = "s3cret-s3cret"
BODY = b'{"action": "push"}'


@pytest.mark.parametrize("stamp", ["²", "١٢٣", "12³"])
def test_a_timestamp_of_other_digits_is_malformed(stamp: str) -> None:
    header = f"t={stamp},v1={_digest(SECRET, BODY, stamp)}"
    with pytest.raises(SignatureRejected, match="malformed signature"):
        verify(header, SECRET, BODY, time.time())


def test_a_signature_of_now_is_accepted() -> None:
    now = int(time.time())
    verify(sign(SECRET, BODY, now), SECRET, BODY, now)
