//! Real Vapi deliveries (kept by the vapi4k project, listed in
//! `shared/fixtures/providers/SOURCES.md`) go through verification and parsing.

use std::path::PathBuf;

use leadline_core::Phone;
use leadline_core::calling::call::CallPhase;
use leadline_core::calling::lead::CallOutcome;
use leadline_core::in_call::ToolCall;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_voice::{HmacAlgorithm, VapiHmac, vapi};
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/providers/vapi")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_real_end_of_call_report_parses() {
    let event = vapi::parse_event(&fixture("end-of-call-report.vapi4k.json"))
        .unwrap()
        .expect("an end-of-call report is a call event");
    assert_eq!(event.provider, VoiceProvider::Vapi);
    assert_eq!(
        event.provider_call_id,
        "b1223960-1b4d-4585-91b8-a69b0f57ec2f"
    );
    assert_eq!(
        event.dedupe_key,
        "vapi#b1223960-1b4d-4585-91b8-a69b0f57ec2f#end-of-call-report#"
    );
    assert_eq!(event.phase, CallPhase::Analyzed);
    assert_eq!(
        event.call, None,
        "an inbound test call carries no leadline metadata"
    );
    assert_eq!(event.outcome, Some(CallOutcome::Completed));

    let report = event.report;
    assert_eq!(report.ended_reason.as_deref(), Some("customer-ended-call"));
    assert_eq!(report.success.as_deref(), Some("true"));
    assert!(
        report
            .summary
            .unwrap()
            .starts_with("The user inquired about the weather")
    );
    assert!(
        report
            .transcript
            .unwrap()
            .starts_with("AI: Hi there. I'm assistant 1.")
    );
    assert!(
        report
            .recording_url
            .unwrap()
            .starts_with("https://auth.vapi.ai/storage/v1/object/public/recordings/")
    );
    assert_eq!(report.structured, None);
    assert_eq!(report.provider_cost, None);
}

#[test]
fn messages_that_are_not_about_call_progress_are_ignored() {
    for name in ["tool-calls.vapi4k-1.json", "assistant-request.vapi4k.json"] {
        assert_eq!(vapi::parse_event(&fixture(name)), Ok(None), "{name}");
    }
}

#[test]
fn a_real_call_object_reads_as_a_lookup() {
    let message: serde_json::Value =
        serde_json::from_slice(&fixture("assistant-request.vapi4k.json")).unwrap();
    let call = serde_json::to_vec(&message["message"]["call"]).unwrap();
    let event = vapi::parse_call(&call).unwrap();
    assert_eq!(event.phase, CallPhase::Ringing);
    assert_eq!(
        event.dedupe_key,
        "vapi#b1223960-1b4d-4585-91b8-a69b0f57ec2f#lookup-ringing"
    );
    assert_eq!(event.call, None, "an inbound test call carries no metadata");
    assert_eq!(event.outcome, None);
}

#[test]
fn a_real_body_signed_with_a_test_secret_verifies_byte_for_byte() {
    let body = fixture("end-of-call-report.vapi4k.json");
    let credential = VapiHmac::new("test-secret", HmacAlgorithm::Sha256);
    let url = "https://hooks.example.com/vapi";
    let signature = credential
        .sign("1722115445712", "POST", url, &body)
        .unwrap();
    let header = |name: &str| match name {
        "x-signature" => Some(signature.as_str()),
        "x-timestamp" => Some("1722115445712"),
        _ => None,
    };
    assert_eq!(credential.verify(header, "POST", url, &body), Ok(()));

    let reserialized =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&body).unwrap()).unwrap();
    assert!(
        credential
            .verify(header, "POST", url, &reserialized)
            .is_err()
    );
}

#[test]
fn the_real_tool_calls_message_parses() {
    let request = vapi::parse_tool_calls(&fixture("tool-calls.vapi4k-1.json"))
        .unwrap()
        .expect("a tool-calls message");
    assert_eq!(request.provider, VoiceProvider::Vapi);
    assert_eq!(request.call_id, "b1223960-1b4d-4585-91b8-a69b0f57ec2f");
    assert_eq!(
        request.call, None,
        "an inbound test call carries no leadline metadata"
    );
    // The capture's customer, +1 456-683-6490, is no real number (456 is a
    // NANP service code, not an area code): no caller rather than a wrong one.
    assert!(Phone::parse("+14566836490", None).is_err());
    assert_eq!(request.caller, None);
    assert_eq!(
        request.called,
        Some(Phone::parse("+19254207621", None).unwrap())
    );
    assert!(request.malformed.is_empty());
    assert_eq!(
        request.calls,
        [ToolCall {
            id: "call_51kj".into(),
            name: "getWeatherByCity_001".into(),
            args: json!({"city": "Danville", "state": "California"}),
        }]
    );

    // Not a call event: parse_event leaves it to the tool-call receiver.
    assert_eq!(
        vapi::parse_event(&fixture("tool-calls.vapi4k-1.json")),
        Ok(None)
    );
}

#[test]
fn the_real_assistant_request_is_an_inbound_call_to_its_number() {
    let body = fixture("assistant-request.vapi4k.json");
    let call = vapi::parse_assistant_request(&body)
        .unwrap()
        .expect("an assistant-request is an inbound call");
    assert_eq!(call.provider, VoiceProvider::Vapi);
    assert_eq!(
        call.provider_call_id.as_deref(),
        Some("b1223960-1b4d-4585-91b8-a69b0f57ec2f")
    );
    assert_eq!(
        call.called,
        Some(Phone::parse("+19254207621", None).unwrap())
    );
    // +1 456-683-6490 is no real number (see the tool-calls capture).
    assert_eq!(call.caller, None);
    // Nothing else reads it: not a call event, not tool calls.
    assert_eq!(vapi::parse_event(&body), Ok(None));
    assert_eq!(vapi::parse_tool_calls(&body), Ok(None));
}
