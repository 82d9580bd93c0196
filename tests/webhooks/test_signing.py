"""Standard Webhooks signatures."""

from __future__ import annotations

import base64

import pytest

from webriskops.webhooks import signing

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - published test vector
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_example():
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = signing.headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, timestamp=SPEC_TIMESTAMP)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_generated_secrets_are_random_whsec_keys():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first != second
    assert first.startswith("whsec_") and len(base64.b64decode(first[6:])) == 32


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(SPEC_TIMESTAMP + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
)
def test_verify_rejects_tampering(tamper):
    headers = signing.headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, timestamp=SPEC_TIMESTAMP)
    headers, body = tamper(headers, SPEC_BODY)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SPEC_SECRET, headers, body, now=SPEC_TIMESTAMP)


def test_verify_rejects_old_messages_and_other_secrets():
    headers = signing.headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, timestamp=SPEC_TIMESTAMP)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 301)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signing.generate_secret(), headers, SPEC_BODY, now=SPEC_TIMESTAMP)
