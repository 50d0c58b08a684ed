//! The create-call and get-call clients against a local server: the exact
//! request each sends, and how each class of answer becomes a `DialError`.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leadline_core::calling::call::{
    CallEvent, CallLookup, CallPhase, CallRef, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::calling::lead::CallOutcome;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::kernel::redact::leaks;
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

async fn retell_looks_up(
    call_id: &str,
    canned: Canned,
) -> (Result<Option<CallEvent>, DialError>, Option<Recorded>) {
    let (base_url, received) = serve_once(canned);
    let result = retell(&base_url).lookup_call(call_id).await;
    (result, received.recv_timeout(Duration::from_secs(2)).ok())
}

async fn vapi_looks_up(
    call_id: &str,
    canned: Canned,
) -> (Result<Option<CallEvent>, DialError>, Option<Recorded>) {
    let (base_url, received) = serve_once(canned);
    let result = vapi(&base_url).lookup_call(call_id).await;
    (result, received.recv_timeout(Duration::from_secs(2)).ok())
}

#[tokio::test]
async fn retell_looks_a_call_up_with_get_call() {
    let call = json!({
        "call_id": "call_123",
        "agent_id": "agent_shared",
        "agent_version": 1,
        "call_status": "ended",
        "call_type": "phone_call",
        "direction": "outbound",
        "from_number": "+14155550100",
        "to_number": "+14155550199",
        "metadata": call_ref().to_metadata(),
        "disconnection_reason": "agent_hangup",
        "call_analysis": {
            "call_summary": "Booked",
            "custom_analysis_data": {"outcome": "appointment_set"}
        }
    });
    let (result, request) = retell_looks_up("call_123", Canned::json(200, &call.to_string())).await;
    let event = result.unwrap().expect("a known call");
    assert_eq!(event.provider, VoiceProvider::Retell);
    assert_eq!(event.provider_call_id, "call_123");
    assert_eq!(event.phase, CallPhase::Analyzed);
    assert_eq!(event.dedupe_key, "retell#call_123#lookup-analyzed");
    assert_eq!(event.call, Some(call_ref()));
    assert_eq!(event.outcome, Some(CallOutcome::AppointmentSet));

    let request = request.expect("the server got the request");
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v2/get-call/call_123");
    assert_eq!(request.header("authorization"), Some("Bearer retell-key"));
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn vapi_looks_a_call_up_with_get_call() {
    let id = "8b3f0e4a-0000-4000-8000-000000000002";
    let call = json!({
        "id": id,
        "orgId": "org",
        "type": "outboundPhoneCall",
        "status": "in-progress",
        "assistantOverrides": {"variableValues": {}, "metadata": call_ref().to_metadata()},
        "startedAt": "2026-11-20T15:00:00.000Z"
    });
    let (result, request) = vapi_looks_up(id, Canned::json(200, &call.to_string())).await;
    let event = result.unwrap().expect("a known call");
    assert_eq!(event.provider, VoiceProvider::Vapi);
    assert_eq!(event.phase, CallPhase::Started);
    assert_eq!(event.dedupe_key, format!("vapi#{id}#lookup-started"));
    assert_eq!(event.call, Some(call_ref()));
    assert_eq!(event.outcome, None);

    let request = request.expect("the server got the request");
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, format!("/call/{id}"));
    assert_eq!(request.header("authorization"), Some("Bearer vapi-key"));
}

#[tokio::test]
async fn an_unknown_call_is_none() {
    let (result, _) = retell_looks_up(
        "call_404",
        Canned::json(404, r#"{"status":"error","message":"Call not found"}"#),
    )
    .await;
    assert_eq!(result, Ok(None));
    // Even when the message would otherwise read as a refused number.
    let (result, _) = vapi_looks_up(
        "x",
        Canned::json(
            404,
            r#"{"message":"No call with that number is valid","statusCode":404}"#,
        ),
    )
    .await;
    assert_eq!(result, Ok(None));
}

#[tokio::test]
async fn a_refused_lookup_is_classified_like_a_refused_call() {
    let canned = Canned {
        headers: vec![("retry-after", "5")],
        ..Canned::json(429, r#"{"message":"Too many requests"}"#)
    };
    let (result, _) = vapi_looks_up("x", canned).await;
    assert_eq!(
        result,
        Err(DialError::Throttled {
            reason: "Too many requests".into(),
            retry_after: Some(Duration::from_secs(5))
        })
    );
    let (result, _) = retell_looks_up("call_1", Canned::json(500, "Internal Server Error")).await;
    assert_eq!(
        result,
        Err(DialError::Unavailable("Internal Server Error".into()))
    );
    let (result, _) = retell_looks_up(
        "call_1",
        Canned::json(401, r#"{"status":"error","message":"Unauthorized"}"#),
    )
    .await;
    assert_eq!(
        result,
        Err(DialError::Rejected {
            status: 401,
            reason: "Unauthorized".into()
        })
    );
}

#[tokio::test]
async fn an_unreadable_call_is_unavailable() {
    let (result, _) = retell_looks_up("call_1", Canned::json(200, r#"{"call_id":"call_1"}"#)).await;
    assert!(
        matches!(&result, Err(DialError::Unavailable(reason)) if reason.contains("call_status")),
        "{result:?}"
    );
    let (result, _) = vapi_looks_up("x", Canned::json(200, "<html>ok</html>")).await;
    assert!(
        matches!(&result, Err(DialError::Unavailable(reason)) if reason.contains("could not be read")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_lookup_without_an_answer_in_time_is_a_timeout() {
    let canned = Canned {
        delay: Duration::from_secs(3),
        ..Canned::json(200, r#"{"call_id":"late","call_status":"ongoing"}"#)
    };
    let (result, _) = retell_looks_up("late", canned).await;
    assert_eq!(result, Err(DialError::Timeout));
    let result = vapi(&closed_port()).lookup_call("x").await;
    assert!(
        matches!(result, Err(DialError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_odd_call_id_stays_in_its_path_segment() {
    let (_, request) = vapi_looks_up("a/../b?c", Canned::json(404, "")).await;
    assert_eq!(request.unwrap().path, "/call/a%2F..%2Fb%3Fc");
    let result = retell(&closed_port()).lookup_call("").await;
    assert!(
        matches!(result, Err(DialError::Rejected { status: 0, .. })),
        "{result:?}"
    );
}

/// What the code under test logs while `work` runs (the fmt layer's text).
async fn logged<T>(work: impl Future<Output = T>) -> (T, String) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    drop(guard);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (output, text)
}

#[tokio::test]
async fn a_refusal_is_logged_without_the_number_or_address_it_names() {
    let body =
        r#"{"message":"to_number +14155550199 (sam.lee@example.com) is not a valid E.164 number"}"#;
    let ((result, _), log) = logged(retell_answers(Canned::json(422, body))).await;
    assert!(
        matches!(result, Err(DialError::InvalidNumber(_))),
        "{result:?}"
    );
    assert!(
        log.contains("the provider refused to place a call"),
        "{log}"
    );
    assert!(log.contains("s•••@example.com"), "{log}");
    assert_eq!(leaks(&log), [], "{log}");
    let (_, log) = logged(retell_looks_up("call_1", Canned::json(403, body))).await;
    assert!(
        log.contains("the provider refused to tell about a call"),
        "{log}"
    );
    assert_eq!(leaks(&log), [], "{log}");
}

#[test]
fn an_unknown_end_reason_is_logged_redacted() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (outcome, log) = runtime.block_on(logged(async {
        leadline_voice::reasons::vapi_outcome("zz-unheard-of +14155550199 ana@example.com")
    }));
    assert_eq!(outcome, CallOutcome::Failed { retryable: true });
    assert!(log.contains("unknown end-of-call reason"), "{log}");
    assert_eq!(leaks(&log), [], "{log}");
}
