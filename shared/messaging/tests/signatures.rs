//! The three verifiers against vectors computed by the providers' own
//! libraries (tests/vectors/make_vectors.py): each vector's `valid` is what
//! twilio-python 9.11.0, sendgrid-python or Python's hmac answered for it.

use std::time::Duration;

use jiff::Timestamp;
use leadline_messaging::{SignatureError, sendgrid, twilio, whatsapp};
use serde_json::Value;

fn vectors(raw: &str) -> Value {
    serde_json::from_str(raw).expect("the vectors are JSON")
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {vector}"))
}

fn valid(vector: &Value) -> bool {
    vector["valid"].as_bool().expect("valid")
}

fn list<'a>(file: &'a Value, field: &str) -> &'a [Value] {
    let list = file[field].as_array().expect("a list of vectors");
    assert!(!list.is_empty(), "no {field} vectors");
    list
}

#[test]
fn twilio_form_signatures_agree_with_twilio_python() {
    let file = vectors(include_str!("vectors/twilio.json"));
    let token = text(&file, "auth_token");
    let forms = list(&file, "form");
    assert!(forms.iter().any(valid) && !forms.iter().all(valid));
    for vector in forms {
        let name = text(vector, "name");
        let params: Vec<(String, String)> = vector["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().into(),
                    pair[1].as_str().unwrap().into(),
                )
            })
            .collect();
        // The body as Twilio posts it reads back into the signed parameters.
        assert_eq!(
            twilio::parse_form(text(vector, "body").as_bytes()),
            params,
            "{name}"
        );
        let result = twilio::verify_signature(
            text(vector, "url"),
            &params,
            text(vector, "signature"),
            token,
        );
        if valid(vector) {
            assert_eq!(result, Ok(()), "{name}");
        } else {
            assert_eq!(result, Err(SignatureError::Mismatch), "{name}");
        }
    }
}

#[test]
fn twilio_json_signatures_agree_with_twilio_python() {
    let file = vectors(include_str!("vectors/twilio.json"));
    let token = text(&file, "auth_token");
    let jsons = list(&file, "json");
    for vector in jsons {
        let name = text(vector, "name");
        let result = twilio::verify_json_signature(
            text(vector, "url"),
            text(vector, "body").as_bytes(),
            text(vector, "signature"),
            token,
        );
        assert_eq!(result.is_ok(), valid(vector), "{name}: {result:?}");
    }
    // A valid vector's signature does not pass as a form with parameters.
    let first = &jsons[0];
    assert!(valid(first));
    assert_eq!(
        twilio::verify_signature(
            text(first, "url"),
            &[("Body".into(), "x".into())],
            text(first, "signature"),
            token
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn twilio_signing_gives_the_libraries_signature() {
    let file = vectors(include_str!("vectors/twilio.json"));
    let token = text(&file, "auth_token");
    let vector = &list(&file, "form")[0];
    let params = twilio::parse_form(text(vector, "body").as_bytes());
    assert_eq!(
        twilio::sign(text(vector, "url"), &params, token),
        text(vector, "signature")
    );
}

#[test]
fn sendgrid_signatures_agree_with_sendgrid_python() {
    let file = vectors(include_str!("vectors/sendgrid.json"));
    let key = text(&file, "public_key");
    let all = list(&file, "vectors");
    assert!(all.iter().any(valid) && !all.iter().all(valid));
    for vector in all {
        let name = text(vector, "name");
        let timestamp = text(vector, "timestamp");
        let now = Timestamp::from_second(timestamp.parse().unwrap()).unwrap();
        let result = sendgrid::verify_event_signature(
            key,
            text(vector, "signature"),
            timestamp,
            text(vector, "body").as_bytes(),
            now,
            sendgrid::REPLAY_WINDOW,
        );
        if valid(vector) {
            assert_eq!(result, Ok(()), "{name}");
        } else {
            assert_eq!(result, Err(SignatureError::Mismatch), "{name}");
        }
    }
}

#[test]
fn a_sendgrid_signature_outside_the_window_is_refused_however_valid() {
    let file = vectors(include_str!("vectors/sendgrid.json"));
    let key = text(&file, "public_key");
    let vector = &list(&file, "vectors")[0];
    assert!(valid(vector));
    let signed_at: i64 = text(vector, "timestamp").parse().unwrap();
    let verify_at = |now: i64| {
        sendgrid::verify_event_signature(
            key,
            text(vector, "signature"),
            text(vector, "timestamp"),
            text(vector, "body").as_bytes(),
            Timestamp::from_second(now).unwrap(),
            sendgrid::REPLAY_WINDOW,
        )
    };
    assert_eq!(verify_at(signed_at + 300), Ok(()));
    assert_eq!(verify_at(signed_at - 300), Ok(()));
    assert_eq!(
        verify_at(signed_at + 301),
        Err(SignatureError::Stale { age_secs: 301 })
    );
    assert_eq!(
        verify_at(signed_at - 301),
        Err(SignatureError::FromTheFuture { ahead_secs: 301 })
    );
}

#[test]
fn malformed_sendgrid_inputs_are_told_apart() {
    let file = vectors(include_str!("vectors/sendgrid.json"));
    let key = text(&file, "public_key");
    let vector = &list(&file, "vectors")[0];
    let timestamp = text(vector, "timestamp");
    let now = Timestamp::from_second(timestamp.parse().unwrap()).unwrap();
    let body = text(vector, "body").as_bytes();
    let signature = text(vector, "signature");
    let verify = |key: &str, signature: &str, timestamp: &str| {
        sendgrid::verify_event_signature(
            key,
            signature,
            timestamp,
            body,
            now,
            sendgrid::REPLAY_WINDOW,
        )
    };
    // The key as PEM, with its armour and line breaks, is the same key.
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &key[..64],
        &key[64..]
    );
    assert_eq!(verify(&pem, signature, timestamp), Ok(()));
    assert!(matches!(
        verify("not base64!", signature, timestamp),
        Err(SignatureError::InvalidKey(_))
    ));
    assert!(matches!(
        verify("AAAA", signature, timestamp),
        Err(SignatureError::InvalidKey(_))
    ));
    for bad_timestamp in ["", "17e8", "-1795530600", " 1795530600"] {
        assert!(
            matches!(
                verify(key, signature, bad_timestamp),
                Err(SignatureError::Malformed { .. })
            ),
            "{bad_timestamp:?}"
        );
    }
    for bad_signature in ["", "%%%", "AAAA"] {
        assert!(
            matches!(
                verify(key, bad_signature, timestamp),
                Err(SignatureError::Malformed { .. })
            ),
            "{bad_signature:?}"
        );
    }
}

#[test]
fn whatsapp_signatures_agree_with_python_hmac() {
    let file = vectors(include_str!("vectors/whatsapp.json"));
    let secret = text(&file, "app_secret");
    let all = list(&file, "vectors");
    assert!(all.iter().any(valid) && !all.iter().all(valid));
    for vector in all {
        let name = text(vector, "name");
        let body = text(vector, "body").as_bytes();
        let result = whatsapp::verify_signature(secret, text(vector, "header"), body);
        if valid(vector) {
            assert_eq!(result, Ok(()), "{name}");
            assert_eq!(
                whatsapp::sign(secret, body),
                text(vector, "header"),
                "{name}"
            );
        } else {
            assert_eq!(result, Err(SignatureError::Mismatch), "{name}");
        }
    }
}

#[test]
fn the_whatsapp_vector_body_is_escaped_as_meta_sends_it() {
    let file = vectors(include_str!("vectors/whatsapp.json"));
    let body = text(&list(&file, "vectors")[0], "body");
    assert!(body.is_ascii() && body.contains(r"Jos\u00e9"), "{body}");
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    assert_eq!(notification.inbound[0].body, "Olá, confirmo ✅");
    assert_eq!(
        notification.inbound[0]
            .extra
            .get("profile_name")
            .map(String::as_str),
        Some("José 😀")
    );
}

#[test]
fn the_replay_window_is_five_minutes() {
    assert_eq!(sendgrid::REPLAY_WINDOW, Duration::from_secs(300));
}
