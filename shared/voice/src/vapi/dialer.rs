//! `POST /call` and `GET /call/{id}`, with `Authorization: Bearer <private key>`.
//!
//! `CreateCallDTO` has no top-level `metadata`: leadline's correlation goes in
//! `assistantOverrides.metadata`, which Vapi echoes in every server message
//! as `message.call.assistantOverrides.metadata`, and in the `Call` itself.

use std::collections::BTreeMap;

use async_trait::async_trait;
use leadline_core::calling::call::{
    CallEvent, CallLookup, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::intake::tenant::VoiceProvider;
use serde::Serialize;
use serde_json::Value;

use crate::dial;
use crate::vapi::parse_call;

/// Places calls with one Vapi organization, and looks them up.
pub struct VapiDialer {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    default_assistant_id: Option<String>,
    default_phone_number_id: Option<String>,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateCall<'a> {
    assistant_id: &'a str,
    phone_number_id: &'a str,
    customer: Customer<'a>,
    assistant_overrides: AssistantOverrides<'a>,
}

#[derive(Debug, PartialEq, Serialize)]
struct Customer<'a> {
    number: &'a str,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct AssistantOverrides<'a> {
    variable_values: &'a BTreeMap<String, String>,
    metadata: Value,
}

impl VapiDialer {
    pub const DEFAULT_BASE_URL: &str = "https://api.vapi.ai";

    /// `http` is shared and built once by the caller, with its timeout.
    pub fn new(http: reqwest::Client, api_key: impl Into<String>) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            default_assistant_id: None,
            default_phone_number_id: None,
        }
    }

    /// Another API root, such as the provider simulator's.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The deployment's shared assistant, for calls that do not name one.
    pub fn with_default_assistant_id(mut self, assistant_id: Option<String>) -> Self {
        self.default_assistant_id = assistant_id;
        self
    }

    /// The deployment's Vapi phone number, for calls that do not name one.
    pub fn with_default_phone_number_id(mut self, phone_number_id: Option<String>) -> Self {
        self.default_phone_number_id = phone_number_id;
        self
    }

    fn request_body<'a>(&'a self, call: &'a PlaceCall) -> Result<CreateCall<'a>, DialError> {
        if call.provider != VoiceProvider::Vapi {
            return Err(configuration_error("the call is not for Vapi"));
        }
        let assistant_id = call
            .agent_id
            .as_deref()
            .or(self.default_assistant_id.as_deref())
            .ok_or_else(|| configuration_error("no assistantId configured"))?;
        let phone_number_id = call
            .phone_number_id
            .as_deref()
            .or(self.default_phone_number_id.as_deref())
            .ok_or_else(|| configuration_error("no phoneNumberId configured"))?;
        Ok(CreateCall {
            assistant_id,
            phone_number_id,
            customer: Customer {
                number: call.to.e164(),
            },
            assistant_overrides: AssistantOverrides {
                variable_values: &call.variables,
                metadata: call.call.to_metadata(),
            },
        })
    }
}

/// A call this dialer cannot send as configured; status 0 says no request was made.
fn configuration_error(reason: &str) -> DialError {
    DialError::Rejected {
        status: 0,
        reason: reason.to_owned(),
    }
}

#[async_trait]
impl VoiceDialer for VapiDialer {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let body = self.request_body(call)?;
        let request = self
            .http
            .post(format!("{}/call", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&body);
        dial::place("vapi", request, "id").await
    }
}

#[async_trait]
impl CallLookup for VapiDialer {
    async fn lookup_call(&self, provider_call_id: &str) -> Result<Option<CallEvent>, DialError> {
        if provider_call_id.is_empty() {
            return Err(configuration_error("no call id to look up"));
        }
        let url = format!(
            "{}/call/{}",
            self.base_url,
            dial::path_segment(provider_call_id)
        );
        let request = self.http.get(url).bearer_auth(&self.api_key);
        dial::look_up("vapi", request, parse_call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::calling::call::CallRef;
    use leadline_core::{LeadId, Phone, TenantId};
    use serde_json::json;

    fn place_call() -> PlaceCall {
        PlaceCall {
            provider: VoiceProvider::Vapi,
            call: CallRef {
                tenant: TenantId::parse("acme").unwrap(),
                lead: LeadId::from_bytes(&[2; 15]),
                attempt: 1,
            },
            to: Phone::parse("+14155550199", None).unwrap(),
            from: None,
            agent_id: None,
            phone_number_id: None,
            variables: BTreeMap::from([("business".to_owned(), "Acme Roofing".to_owned())]),
        }
    }

    fn dialer() -> VapiDialer {
        VapiDialer::new(reqwest::Client::new(), "key")
            .with_default_assistant_id(Some("asst_shared".into()))
            .with_default_phone_number_id(Some("pn_shared".into()))
    }

    #[test]
    fn the_body_carries_our_metadata_in_the_assistant_overrides() {
        let body = serde_json::to_value(dialer().request_body(&place_call()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "assistantId": "asst_shared",
                "phoneNumberId": "pn_shared",
                "customer": {"number": "+14155550199"},
                "assistantOverrides": {
                    "variableValues": {"business": "Acme Roofing"},
                    "metadata": place_call().call.to_metadata()
                }
            })
        );
    }

    #[test]
    fn the_call_names_its_own_assistant_and_number_before_the_defaults() {
        let mut call = place_call();
        call.agent_id = Some("asst_tenant".into());
        call.phone_number_id = Some("pn_tenant".into());
        let dialer = dialer();
        let body = dialer.request_body(&call).unwrap();
        assert_eq!(body.assistant_id, "asst_tenant");
        assert_eq!(body.phone_number_id, "pn_tenant");
    }

    #[test]
    fn without_an_assistant_or_a_number_nothing_is_sent() {
        let bare = VapiDialer::new(reqwest::Client::new(), "key");
        assert_eq!(
            bare.request_body(&place_call()),
            Err(configuration_error("no assistantId configured"))
        );
        let no_number = bare.with_default_assistant_id(Some("asst".into()));
        assert_eq!(
            no_number.request_body(&place_call()),
            Err(configuration_error("no phoneNumberId configured"))
        );
    }

    #[test]
    fn a_retell_call_is_refused() {
        let mut call = place_call();
        call.provider = VoiceProvider::Retell;
        assert!(matches!(
            dialer().request_body(&call),
            Err(DialError::Rejected { status: 0, .. })
        ));
    }
}
