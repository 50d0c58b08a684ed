"""Signature test vectors for leadline-messaging, computed by the providers' own
libraries, so that the Rust verifiers are checked against them rather than
against themselves.

    python3 -m venv /tmp/twvenv
    /tmp/twvenv/bin/pip install twilio==9.11.0 sendgrid cryptography
    /tmp/twvenv/bin/python shared/messaging/tests/vectors/make_vectors.py

writes twilio.json, sendgrid.json and whatsapp.json beside this script.
Every vector's "valid" is what the provider's library answers for it
(twilio-python's RequestValidator.validate, sendgrid-python's
EventWebhook.verify_signature, and for WhatsApp Python's hmac as Meta's SDK
computes it); tests/signatures.rs checks the Rust verifiers give the same
answer for each. The SendGrid signatures are randomised (ECDSA), so running
the script again changes them; the key is fixed.
"""

import base64
import hashlib
import hmac
import json
import os
from hashlib import sha256
from urllib.parse import urlencode

import sendgrid
import twilio
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


# --- Twilio -------------------------------------------------------------------

class MultiDict(dict):
    """Repeated form fields, as Flask's MultiDict gives them: the validator
    reads them with getall()."""

    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getall(self, name):
        return self[name]


TOKEN = "12345678901234567890123456789012"
OTHER_TOKEN = "abcdefabcdefabcdefabcdefabcdefab"
validator = RequestValidator(TOKEN)
other_validator = RequestValidator(OTHER_TOKEN)

BASE = "https://hooks.leadline.example"
INBOUND = [
    ("ToCountry", "US"),
    ("SmsMessageSid", "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c"),
    ("NumMedia", "0"),
    ("SmsSid", "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c"),
    ("SmsStatus", "received"),
    ("Body", "C"),
    ("To", "+14155550100"),
    ("NumSegments", "1"),
    ("MessageSid", "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550199"),
    ("ApiVersion", "2010-04-01"),
]
STATUS = [
    ("SmsSid", "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c"),
    ("SmsStatus", "delivered"),
    ("MessageStatus", "delivered"),
    ("To", "+14155550199"),
    ("MessageSid", "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550100"),
    ("ApiVersion", "2010-04-01"),
    ("RawDlrDoneDate", "2611241530"),
]
STATUS_URL = (
    BASE
    + "/webhooks/twilio/status?tenant=acme&lead=ld_aaaaaaaaaaaaaaaaaaaaaaaa"
    + "&message=msg_bbbbbbbbbbbbbbbbbbbbbbbb"
)


def form_case(name, url, params, signed_url=None, validator_=validator):
    """A form webhook to `url`, signed over `signed_url` (default: `url`)."""
    signature = validator_.compute_signature(signed_url or url, MultiDict(params))
    return {
        "name": name,
        "url": url,
        "params": [list(p) for p in params],
        "body": urlencode(params),
        "signature": signature,
        "valid": validator.validate(url, MultiDict(params), signature),
    }


def tampered(case, how):
    params = [list(p) for p in case["params"]]
    url = case["url"]
    signature = case["signature"]
    if how == "a value changed":
        params[0][1] += "x"
    elif how == "a parameter added":
        params.append(["Extra", "1"])
    elif how == "the URL changed":
        url = url.replace("/webhooks/", "/webhook/")
    elif how == "the signature changed":
        raw = bytearray(base64.b64decode(signature))
        raw[0] ^= 1
        signature = base64.b64encode(bytes(raw)).decode()
    pairs = [tuple(p) for p in params]
    return {
        "name": case["name"] + ", " + how,
        "url": url,
        "params": params,
        "body": urlencode(pairs),
        "signature": signature,
        "valid": validator.validate(url, MultiDict(pairs), signature),
    }


forms = [
    form_case("status callback: a URL with a query string", STATUS_URL, STATUS),
    form_case("inbound SMS", BASE + "/webhooks/twilio/sms", INBOUND),
    form_case(
        "the URL given with :443, signed without a port",
        BASE + ":443/webhooks/twilio/sms",
        INBOUND,
        signed_url=BASE + "/webhooks/twilio/sms",
    ),
    form_case(
        "the URL given without a port, signed with :443",
        BASE + "/webhooks/twilio/sms",
        INBOUND,
        signed_url=BASE + ":443/webhooks/twilio/sms",
    ),
    form_case(
        "http, the URL given without a port, signed with :80",
        "http://hooks.leadline.example/webhooks/twilio/sms",
        INBOUND,
        signed_url="http://hooks.leadline.example:80/webhooks/twilio/sms",
    ),
    form_case(
        "a non-default port, signed with it",
        BASE + ":8443/webhooks/twilio/sms",
        INBOUND,
    ),
    form_case(
        "a non-default port, signed without a port",
        BASE + ":8443/webhooks/twilio/sms",
        INBOUND,
        signed_url=BASE + "/webhooks/twilio/sms",
    ),
    form_case(
        "a non-default port, signed with :443 instead",
        BASE + ":8443/webhooks/twilio/sms",
        INBOUND,
        signed_url=BASE + ":443/webhooks/twilio/sms",
    ),
    form_case(
        "repeated parameters with duplicate and unsorted values",
        BASE + "/webhooks/twilio/sms",
        [
            ("MediaUrl", "https://api.twilio.com/b"),
            ("Body", "two"),
            ("MediaUrl", "https://api.twilio.com/a"),
            ("body", "lower-case name"),
            ("MediaUrl", "https://api.twilio.com/b"),
            ("Body", "one"),
            ("MediaUrl", "https://api.twilio.com/c"),
        ],
    ),
    form_case(
        "unicode values (code-point order, not UTF-16 order)",
        BASE + "/webhooks/twilio/sms",
        [
            ("Body", "Olá, confirmo às 10h ✅ 日本語"),
            ("From", "+14155550199"),
            ("Note", "\U0001F642 smile"),
            ("Note", "\uFF5E wave"),
            ("Note", "plain + spaces & ampersands = 100%"),
            ("Ünïcödé", "name"),
        ],
    ),
    form_case("an empty body", BASE + "/webhooks/twilio/sms", []),
    form_case(
        "signed with another auth token",
        BASE + "/webhooks/twilio/sms",
        INBOUND,
        validator_=other_validator,
    ),
]
forms += [
    tampered(forms[0], "a value changed"),
    tampered(forms[1], "a parameter added"),
    tampered(forms[1], "the URL changed"),
    tampered(forms[1], "the signature changed"),
    tampered(forms[8], "a value changed"),
    tampered(forms[9], "a value changed"),
]


def json_case(name, body, url_body=None, signed_with_port=False):
    """A JSON webhook: the URL carries bodySHA256 of `url_body` (default: the
    body); signed over the URL, or over it with the default port added."""
    digest = validator.compute_hash(url_body if url_body is not None else body)
    url = BASE + "/webhooks/twilio/events?bodySHA256=" + digest
    signed_url = url.replace(BASE, BASE + ":443") if signed_with_port else url
    signature = validator.compute_signature(signed_url, {})
    return {
        "name": name,
        "url": url,
        "body": body,
        "signature": signature,
        "valid": validator.validate(url, body, signature),
    }


BODY = json.dumps(
    {"property": "value", "boolean": True, "text": "Olá ✅"}, ensure_ascii=False
)
jsons = [
    json_case("a JSON body with its bodySHA256", BODY),
    json_case("a JSON body, signed with :443", BODY, signed_with_port=True),
    json_case("a JSON body that is not the one hashed", BODY, url_body=BODY + " "),
]
tampered_json = dict(jsons[0])
tampered_json["name"] = "a JSON body changed after signing"
tampered_json["body"] = BODY.replace("value", "valuE")
tampered_json["valid"] = validator.validate(
    tampered_json["url"], tampered_json["body"], tampered_json["signature"]
)
jsons.append(tampered_json)

write(
    "twilio.json",
    {
        "generator": "twilio-python %s, twilio.request_validator.RequestValidator"
        % twilio.__version__,
        "auth_token": TOKEN,
        "form": forms,
        "json": jsons,
    },
)

# --- SendGrid -----------------------------------------------------------------

private_key = ec.derive_private_key(
    0x1EAD11E5EC2E7A1D0C0FFEE0DDBA11FEEDFACECAFEBEEF0123456789ABCDEF, ec.SECP256R1()
)
other_key = ec.derive_private_key(0x0BADC0DE, ec.SECP256R1())


def public_b64(key):
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


PUBLIC_KEY = public_b64(private_key)
verifier = EventWebhook(PUBLIC_KEY)
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign_sendgrid(key, timestamp, body, high_s=None):
    der = key.sign((timestamp + body).encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    if high_s is not None:
        r, s = decode_dss_signature(der)
        low = min(s, N - s)
        der = encode_dss_signature(r, N - low if high_s else low)
    return base64.b64encode(der).decode()


def sendgrid_case(name, timestamp, body, signature, verify_timestamp=None, verify_body=None):
    t = verify_timestamp or timestamp
    b = verify_body if verify_body is not None else body
    return {
        "name": name,
        "timestamp": t,
        "body": b,
        "signature": signature,
        "valid": verifier.verify_signature(b, signature, t),
    }


TS = "1795530600"
EVENTS = json.dumps(
    [
        {
            "email": "ana@example.com",
            "timestamp": 1795530590,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "processed",
            "category": ["reminder", "acme"],
            "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
            "leadline_tenant": "acme",
            "leadline_lead": "ld_aaaaaaaaaaaaaaaaaaaaaaaa",
            "leadline_message": "msg_bbbbbbbbbbbbbbbbbbbbbbbb",
        },
        {
            "email": "ana@example.com",
            "timestamp": 1795530595,
            "event": "delivered",
            "category": "reminder",
            "response": "250 OK",
            "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
            "leadline_tenant": "acme",
            "leadline_lead": "ld_aaaaaaaaaaaaaaaaaaaaaaaa",
            "leadline_message": "msg_bbbbbbbbbbbbbbbbbbbbbbbb",
        },
    ],
    separators=(",", ":"),
)
UNICODE_EVENTS = json.dumps(
    [{"event": "open", "timestamp": 1795530599, "subject": "Olá ✅", "useragent": "Mozilla/5.0 🙂"}]
)
sendgrid_vectors = [
    sendgrid_case("an event array", TS, EVENTS, sign_sendgrid(private_key, TS, EVENTS)),
    sendgrid_case(
        "an event array, s in the lower half",
        TS,
        EVENTS,
        sign_sendgrid(private_key, TS, EVENTS, high_s=False),
    ),
    sendgrid_case(
        "an event array, s in the upper half",
        TS,
        EVENTS,
        sign_sendgrid(private_key, TS, EVENTS, high_s=True),
    ),
    sendgrid_case(
        "escaped unicode in the body",
        TS,
        UNICODE_EVENTS,
        sign_sendgrid(private_key, TS, UNICODE_EVENTS),
    ),
    sendgrid_case("an empty array", TS, "[]", sign_sendgrid(private_key, TS, "[]")),
]
sendgrid_vectors += [
    sendgrid_case(
        "the body changed",
        TS,
        EVENTS,
        sendgrid_vectors[0]["signature"],
        verify_body=EVENTS.replace("delivered", "bounce"),
    ),
    sendgrid_case(
        "the timestamp changed",
        TS,
        EVENTS,
        sendgrid_vectors[0]["signature"],
        verify_timestamp=str(int(TS) + 1),
    ),
    sendgrid_case(
        "signed with another key", TS, EVENTS, sign_sendgrid(other_key, TS, EVENTS)
    ),
    sendgrid_case(
        "the body re-serialised with unicode unescaped",
        TS,
        UNICODE_EVENTS,
        sendgrid_vectors[3]["signature"],
        verify_body=json.dumps(json.loads(UNICODE_EVENTS), ensure_ascii=False),
    ),
]
write(
    "sendgrid.json",
    {
        "generator": "cryptography (ECDSA P-256, SHA-256, DER), each checked with "
        "sendgrid-python %s EventWebhook.verify_signature" % sendgrid.__version__,
        "public_key": PUBLIC_KEY,
        "vectors": sendgrid_vectors,
    },
)

# --- WhatsApp -----------------------------------------------------------------

APP_SECRET = "6f1d2c3b4a5968778695a4b3c2d1e0f9"
payload = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [
                            {"profile": {"name": "José 😀"}, "wa_id": "16505551234"}
                        ],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdBMDQ3MzVBNzA3RjA2QjJFNgA=",
                                "timestamp": "1795530600",
                                "type": "text",
                                "text": {"body": "Olá, confirmo ✅"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}
ESCAPED = json.dumps(payload)  # ensure_ascii: "Jos\u00e9 \ud83d\ude00", as Meta sends
UNESCAPED = json.dumps(payload, ensure_ascii=False)


def meta_sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body.encode("utf-8"), hashlib.sha256).hexdigest()


def whatsapp_case(name, body, header, secret=APP_SECRET):
    return {
        "name": name,
        "body": body,
        "header": header,
        "valid": hmac.compare_digest(header, meta_sign(secret, body)),
    }


whatsapp_vectors = [
    whatsapp_case("escaped unicode, as Meta sends it", ESCAPED, meta_sign(APP_SECRET, ESCAPED)),
    whatsapp_case("the same body unescaped, signed as such", UNESCAPED, meta_sign(APP_SECRET, UNESCAPED)),
    whatsapp_case(
        "the escaped body's signature on the body re-serialised unescaped",
        UNESCAPED,
        meta_sign(APP_SECRET, ESCAPED),
    ),
    whatsapp_case("signed with another app secret", ESCAPED, meta_sign("another-secret", ESCAPED)),
    whatsapp_case("an empty body", "", meta_sign(APP_SECRET, "")),
]
write(
    "whatsapp.json",
    {
        "generator": "Python hmac (HMAC-SHA256, lower-case hex), as Meta's "
        "WhatsApp-Nodejs-SDK generate_x_hub_256_sig",
        "app_secret": APP_SECRET,
        "vectors": whatsapp_vectors,
    },
)

print("twilio: %d form, %d JSON vectors" % (len(forms), len(jsons)))
print("sendgrid: %d vectors" % len(sendgrid_vectors))
print("whatsapp: %d vectors" % len(whatsapp_vectors))
