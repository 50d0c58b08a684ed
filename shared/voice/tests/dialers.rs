//! The create-call clients against a local server: the exact request each
//! sends, and how each class of answer becomes a `DialError`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use leadline_core::call::{CallRef, DialError, PlaceCall, PlacedCall, VoiceDialer};
use leadline_core::tenant::VoiceProvider;
use leadline_core::{LeadId, Phone, TenantId};
use leadline_voice::{RetellDialer, VapiDialer};
use serde_json::json;
use support::{Canned, Recorded, closed_port, serve_once};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn call_ref() -> CallRef {
    CallRef {
        tenant: TenantId::parse("acme").unwrap(),
        lead: LeadId::from_bytes(&[5; 15]),
        attempt: 2,
    }
}

fn place_call(provider: VoiceProvider) -> PlaceCall {
    PlaceCall {
        provider,
        call: call_ref(),
        to: Phone::parse("+14155550199", None).unwrap(),
        from: None,
        agent_id: None,
        phone_number_id: None,
        variables: BTreeMap::from([
            ("business_name".to_owned(), "Acme Roofing".to_owned()),
            ("first_name".to_owned(), "Sam".to_owned()),
        ]),
    }
}

fn retell(base_url: &str) -> RetellDialer {
    RetellDialer::new(http(), "retell-key")
        .with_base_url(base_url)
        .with_default_from_number(Some("+14155550100".into()))
        .with_default_agent_id(Some("agent_shared".into()))
}

fn vapi(base_url: &str) -> VapiDialer {
    VapiDialer::new(http(), "vapi-key")
        .with_base_url(format!("{base_url}/"))
        .with_default_assistant_id(Some("asst_shared".into()))
        .with_default_phone_number_id(Some("pn_shared".into()))
}

async fn retell_answers(canned: Canned) -> (Result<PlacedCall, DialError>, Option<Recorded>) {
    let (base_url, received) = serve_once(canned);
    let result = retell(&base_url)
        .place_call(&place_call(VoiceProvider::Retell))
        .await;
    (result, received.recv_timeout(Duration::from_secs(2)).ok())
}

async fn vapi_answers(canned: Canned) -> (Result<PlacedCall, DialError>, Option<Recorded>) {
    let (base_url, received) = serve_once(canned);
    let result = vapi(&base_url)
        .place_call(&place_call(VoiceProvider::Vapi))
        .await;
    (result, received.recv_timeout(Duration::from_secs(2)).ok())
}

#[tokio::test]
async fn retell_sends_the_create_phone_call_request() {
    let (result, request) = retell_answers(Canned::json(
        201,
        r#"{"call_id":"call_123","call_status":"registered","agent_id":"agent_shared"}"#,
    ))
    .await;
    assert_eq!(
        result,
        Ok(PlacedCall {
            provider_call_id: "call_123".into()
        })
    );
    let request = request.expect("the server got the request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/create-phone-call");
    assert_eq!(request.header("authorization"), Some("Bearer retell-key"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "from_number": "+14155550100",
            "to_number": "+14155550199",
            "override_agent_id": "agent_shared",
            "metadata": {
                "leadline_tenant": "acme",
                "leadline_lead": call_ref().lead.as_str(),
                "leadline_attempt": "2"
            },
            "retell_llm_dynamic_variables": {"business_name": "Acme Roofing", "first_name": "Sam"}
        })
    );
}

#[tokio::test]
async fn vapi_sends_the_create_call_request() {
    let (result, request) = vapi_answers(Canned::json(
        201,
        r#"{"id":"8b3f0e4a-0000-4000-8000-000000000002","status":"queued","type":"outboundPhoneCall"}"#,
    ))
    .await;
    assert_eq!(
        result,
        Ok(PlacedCall {
            provider_call_id: "8b3f0e4a-0000-4000-8000-000000000002".into()
        })
    );
    let request = request.expect("the server got the request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/call");
    assert_eq!(request.header("authorization"), Some("Bearer vapi-key"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "assistantId": "asst_shared",
            "phoneNumberId": "pn_shared",
            "customer": {"number": "+14155550199"},
            "assistantOverrides": {
                "variableValues": {"business_name": "Acme Roofing", "first_name": "Sam"},
                "metadata": call_ref().to_metadata()
            }
        })
    );
}

#[tokio::test]
async fn any_2xx_with_an_id_is_placed() {
    let (result, _) = retell_answers(Canned::json(200, r#"{"call_id":"call_9"}"#)).await;
    assert_eq!(result.unwrap().provider_call_id, "call_9");
}

#[tokio::test]
async fn a_2xx_without_an_id_is_unavailable() {
    let (result, _) = vapi_answers(Canned::json(201, r#"{"status":"queued"}"#)).await;
    assert!(
        matches!(result, Err(DialError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn too_many_requests_is_throttled_with_retry_after() {
    let canned = Canned {
        headers: vec![("retry-after", "12")],
        ..Canned::json(429, r#"{"status":"error","message":"Too many requests"}"#)
    };
    let (result, _) = retell_answers(canned).await;
    assert_eq!(
        result,
        Err(DialError::Throttled {
            reason: "Too many requests".into(),
            retry_after: Some(Duration::from_secs(12))
        })
    );
}

#[tokio::test]
async fn a_concurrency_refusal_is_throttled() {
    let (result, _) = retell_answers(Canned::json(
        402,
        r#"{"status":"error","message":"account_concurrency_exceeded"}"#,
    ))
    .await;
    assert!(
        matches!(
            result,
            Err(DialError::Throttled {
                retry_after: None,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn vapi_refusing_the_number_is_an_invalid_number() {
    let (result, _) = vapi_answers(Canned::json(
        400,
        r#"{"message":["customer.number must be a valid phone number in the E.164 format"],"error":"Bad Request","statusCode":400}"#,
    ))
    .await;
    assert_eq!(
        result,
        Err(DialError::InvalidNumber(
            "customer.number must be a valid phone number in the E.164 format".into()
        ))
    );
}

#[tokio::test]
async fn retell_refusing_the_number_is_an_invalid_number_without_the_number() {
    let (result, _) = retell_answers(Canned::json(
        422,
        r#"{"status":"error","message":"to_number +14155550199 is not a valid E.164 number"}"#,
    ))
    .await;
    assert_eq!(
        result,
        Err(DialError::InvalidNumber(
            "to_number [number] is not a valid E.164 number".into()
        ))
    );
}

#[tokio::test]
async fn another_client_error_is_rejected() {
    let (result, _) = vapi_answers(Canned::json(
        401,
        r#"{"message":"Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.","error":"Unauthorized","statusCode":401}"#,
    ))
    .await;
    assert!(
        matches!(&result, Err(DialError::Rejected { status: 401, reason }) if reason.starts_with("Invalid Key")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let (result, _) = retell_answers(Canned::json(502, "Bad Gateway")).await;
    assert_eq!(result, Err(DialError::Unavailable("Bad Gateway".into())));
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout() {
    let canned = Canned {
        delay: Duration::from_secs(3),
        ..Canned::json(201, r#"{"call_id":"late"}"#)
    };
    let (result, request) = retell_answers(canned).await;
    assert_eq!(result, Err(DialError::Timeout));
    assert!(request.is_some(), "the request was sent before the timeout");
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let result = vapi(&closed_port())
        .place_call(&place_call(VoiceProvider::Vapi))
        .await;
    assert!(
        matches!(result, Err(DialError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_call_the_dialer_cannot_send_makes_no_request() {
    let dialer = RetellDialer::new(http(), "retell-key").with_base_url(closed_port());
    let result = dialer.place_call(&place_call(VoiceProvider::Retell)).await;
    assert_eq!(
        result,
        Err(DialError::Rejected {
            status: 0,
            reason: "no from_number configured".into()
        })
    );
}
