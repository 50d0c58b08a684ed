//! Retell's inbound webhook (set per number as its `inbound_webhook_url`):
//! before it answers a call, Retell POSTs `{"event": "call_inbound",
//! "call_inbound": {"from_number", "to_number", "agent_id"?,
//! "agent_version"?}}`, signed like every webhook, waits 10 s, retries up to
//! 3 times, and takes `{"call_inbound": {"override_agent_id"?,
//! "dynamic_variables"?, "metadata"?}}` back. The call does not exist yet:
//! the request has no call id.

use leadline_core::calling::inbound::{InboundAnswer, InboundCall};
use leadline_core::intake::tenant::VoiceProvider;
use serde_json::{Map, Value, json};

use crate::event::{ParseError, from_slice, required};
use crate::tools::{phone, text_at};

/// Reads the inbound webhook. `Ok(None)` for every other event (those are
/// [`parse_event`](super::parse_event)'s). The number dialled is `to_number`,
/// the caller `from_number` (`anonymous` for a withheld caller id: no
/// number); either not being a number is read as none, which the use case
/// answers. A body without `call_inbound` or its `to_number` is malformed.
pub fn parse_inbound(raw_body: &[u8]) -> Result<Option<InboundCall>, ParseError> {
    let body: Value = from_slice(raw_body)?;
    if !body.is_object() {
        return Err(ParseError::Json("the body is not an object".into()));
    }
    if required(text_at(&body, "/event"), "event")? != "call_inbound" {
        return Ok(None);
    }
    let call = body
        .get("call_inbound")
        .filter(|c| c.is_object())
        .ok_or(ParseError::Missing("call_inbound"))?;
    required(text_at(call, "/to_number"), "call_inbound.to_number")?;
    Ok(Some(InboundCall {
        provider: VoiceProvider::Retell,
        provider_call_id: None,
        called: phone(call.get("to_number")),
        caller: phone(call.get("from_number")),
    }))
}

/// The answer to the inbound webhook. Answered: the agent (when one is
/// named), the variables, and our metadata. Declined: `{"call_inbound": {}}`
/// names no agent, so a number with no inbound agent of its own (how
/// leadline's numbers are set up) is not connected: Retell ends the call.
pub fn inbound_answer(answer: &InboundAnswer) -> Value {
    let InboundAnswer::Answer(greeting) = answer else {
        return json!({"call_inbound": {}});
    };
    let mut fields = Map::new();
    if let Some(agent) = &greeting.agent_id {
        fields.insert("override_agent_id".into(), json!(agent));
    }
    fields.insert("dynamic_variables".into(), json!(greeting.variables));
    if let Some(call) = &greeting.call {
        fields.insert("metadata".into(), call.to_metadata());
    }
    json!({ "call_inbound": fields })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use leadline_core::calling::inbound::{Declined, Greeting};
    use leadline_core::{Phone, TenantId};

    use crate::tools::test_support::our_call;

    fn body(call_inbound: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"event": "call_inbound", "call_inbound": call_inbound})).unwrap()
    }

    fn number(raw: &str) -> Option<Phone> {
        Some(Phone::parse(raw, None).unwrap())
    }

    #[test]
    fn the_number_dialled_and_the_caller_are_read_and_there_is_no_call_id() {
        let call = parse_inbound(&body(json!({
            "agent_id": "agent_12345",
            "from_number": "+14155550142",
            "to_number": "+14155550100"
        })))
        .unwrap()
        .unwrap();
        assert_eq!(
            call,
            InboundCall {
                provider: VoiceProvider::Retell,
                provider_call_id: None,
                called: number("+14155550100"),
                caller: number("+14155550142"),
            }
        );
    }

    #[test]
    fn a_withheld_caller_id_is_no_caller() {
        let call = parse_inbound(&body(
            json!({"from_number": "anonymous", "to_number": "+14155550100"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!((call.caller, call.called), (None, number("+14155550100")));
        let missing = parse_inbound(&body(json!({"to_number": "+14155550100"})))
            .unwrap()
            .unwrap();
        assert_eq!(missing.caller, None);
    }

    #[test]
    fn other_events_are_not_inbound_calls() {
        for event in [
            "call_started",
            "call_ended",
            "call_analyzed",
            "chat_inbound",
        ] {
            let raw =
                serde_json::to_vec(&json!({"event": event, "call": {"call_id": "c"}})).unwrap();
            assert_eq!(parse_inbound(&raw), Ok(None), "{event}");
        }
    }

    #[test]
    fn a_body_without_the_number_dialled_is_malformed() {
        assert_eq!(
            parse_inbound(br#"{"event": "call_inbound"}"#),
            Err(ParseError::Missing("call_inbound"))
        );
        assert_eq!(
            parse_inbound(&body(json!({"from_number": "+14155550142"}))),
            Err(ParseError::Missing("call_inbound.to_number"))
        );
        assert_eq!(parse_inbound(b"{}"), Err(ParseError::Missing("event")));
        assert!(matches!(parse_inbound(b"[1]"), Err(ParseError::Json(_))));
        assert!(matches!(parse_inbound(b"{nope"), Err(ParseError::Json(_))));
        let odd = parse_inbound(&body(json!({"to_number": "our line"})))
            .unwrap()
            .unwrap();
        assert_eq!(
            odd.called, None,
            "a dialled number that is none is answered as such"
        );
    }

    fn greeting(call: bool, agent: Option<&str>) -> InboundAnswer {
        InboundAnswer::Answer(Greeting {
            tenant: TenantId::parse("acme").unwrap(),
            call: call.then(our_call),
            variables: BTreeMap::from([
                ("business_name".to_owned(), "Bright Smile".to_owned()),
                ("greeting".to_owned(), "Hello".to_owned()),
            ]),
            agent_id: agent.map(str::to_owned),
        })
    }

    #[test]
    fn an_answer_names_the_agent_gives_the_variables_and_our_metadata() {
        assert_eq!(
            inbound_answer(&greeting(true, Some("agent_shared"))),
            json!({"call_inbound": {
                "override_agent_id": "agent_shared",
                "dynamic_variables": {"business_name": "Bright Smile", "greeting": "Hello"},
                "metadata": our_call().to_metadata()
            }})
        );
        assert_eq!(
            inbound_answer(&greeting(false, None)),
            json!({"call_inbound": {
                "dynamic_variables": {"business_name": "Bright Smile", "greeting": "Hello"}
            }})
        );
    }

    #[test]
    fn a_declined_call_names_no_agent() {
        for why in [
            Declined::UnknownNumber,
            Declined::NoNumberDialled,
            Declined::NoAgent,
        ] {
            assert_eq!(
                inbound_answer(&InboundAnswer::Decline(why)),
                json!({"call_inbound": {}})
            );
        }
    }
}
