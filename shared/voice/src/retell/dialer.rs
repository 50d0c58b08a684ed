//! `POST /v2/create-phone-call` and `GET /v2/get-call/{call_id}`, with
//! `Authorization: Bearer <API key>`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use leadline_core::calling::call::{
    CallEvent, CallLookup, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::intake::tenant::VoiceProvider;
use serde::Serialize;
use serde_json::Value;

use crate::dial;
use crate::retell::parse_call;

/// Places calls with one Retell account, and looks them up.
pub struct RetellDialer {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    default_from_number: Option<String>,
    default_agent_id: Option<String>,
}

#[derive(Debug, PartialEq, Serialize)]
struct CreatePhoneCall<'a> {
    from_number: &'a str,
    to_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    override_agent_id: Option<&'a str>,
    metadata: Value,
    retell_llm_dynamic_variables: &'a BTreeMap<String, String>,
}

impl RetellDialer {
    pub const DEFAULT_BASE_URL: &str = "https://api.retellai.com";

    /// `http` is shared and built once by the caller, with its timeout.
    pub fn new(http: reqwest::Client, api_key: impl Into<String>) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            default_from_number: None,
            default_agent_id: None,
        }
    }

    /// Another API root, such as the provider simulator's.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The deployment's caller id, for calls that do not name one.
    pub fn with_default_from_number(mut self, from_number: Option<String>) -> Self {
        self.default_from_number = from_number;
        self
    }

    /// The deployment's shared agent, for calls that do not name one.
    /// Without either, Retell uses the agent bound to the from number.
    pub fn with_default_agent_id(mut self, agent_id: Option<String>) -> Self {
        self.default_agent_id = agent_id;
        self
    }

    fn request_body<'a>(&'a self, call: &'a PlaceCall) -> Result<CreatePhoneCall<'a>, DialError> {
        if call.provider != VoiceProvider::Retell {
            return Err(configuration_error("the call is not for Retell"));
        }
        let from_number = call
            .from
            .as_ref()
            .map(|from| from.e164())
            .or(self.default_from_number.as_deref())
            .ok_or_else(|| configuration_error("no from_number configured"))?;
        Ok(CreatePhoneCall {
            from_number,
            to_number: call.to.e164(),
            override_agent_id: call
                .agent_id
                .as_deref()
                .or(self.default_agent_id.as_deref()),
            metadata: call.call.to_metadata(),
            retell_llm_dynamic_variables: &call.variables,
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
impl VoiceDialer for RetellDialer {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let body = self.request_body(call)?;
        let request = self
            .http
            .post(format!("{}/v2/create-phone-call", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&body);
        dial::place("retell", request, "call_id").await
    }
}

#[async_trait]
impl CallLookup for RetellDialer {
    async fn lookup_call(&self, provider_call_id: &str) -> Result<Option<CallEvent>, DialError> {
        if provider_call_id.is_empty() {
            return Err(configuration_error("no call id to look up"));
        }
        let url = format!(
            "{}/v2/get-call/{}",
            self.base_url,
            dial::path_segment(provider_call_id)
        );
        let request = self.http.get(url).bearer_auth(&self.api_key);
        dial::look_up("retell", request, parse_call).await
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
            provider: VoiceProvider::Retell,
            call: CallRef {
                tenant: TenantId::parse("acme").unwrap(),
                lead: LeadId::from_bytes(&[1; 15]),
                attempt: 1,
            },
            to: Phone::parse("+14155550199", None).unwrap(),
            from: None,
            agent_id: None,
            phone_number_id: None,
            variables: BTreeMap::from([("first_name".to_owned(), "Sam".to_owned())]),
        }
    }

    fn dialer() -> RetellDialer {
        RetellDialer::new(reqwest::Client::new(), "key")
    }

    #[test]
    fn the_call_names_its_own_from_number_and_agent_before_the_defaults() {
        let dialer = dialer()
            .with_default_from_number(Some("+14155550100".into()))
            .with_default_agent_id(Some("agent_shared".into()));
        let mut call = place_call();
        call.from = Some(Phone::parse("+14155550111", None).unwrap());
        call.agent_id = Some("agent_tenant".into());
        let body = dialer.request_body(&call).unwrap();
        assert_eq!(body.from_number, "+14155550111");
        assert_eq!(body.override_agent_id, Some("agent_tenant"));

        let body = serde_json::to_value(dialer.request_body(&place_call()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "from_number": "+14155550100",
                "to_number": "+14155550199",
                "override_agent_id": "agent_shared",
                "metadata": place_call().call.to_metadata(),
                "retell_llm_dynamic_variables": {"first_name": "Sam"}
            })
        );
    }

    #[test]
    fn without_an_agent_the_field_is_left_out() {
        let dialer = dialer().with_default_from_number(Some("+14155550100".into()));
        let body = serde_json::to_value(dialer.request_body(&place_call()).unwrap()).unwrap();
        assert!(body.get("override_agent_id").is_none());
    }

    #[test]
    fn without_a_from_number_nothing_is_sent() {
        assert_eq!(
            dialer().request_body(&place_call()),
            Err(configuration_error("no from_number configured"))
        );
    }

    #[test]
    fn a_vapi_call_is_refused() {
        let mut call = place_call();
        call.provider = VoiceProvider::Vapi;
        let dialer = dialer().with_default_from_number(Some("+14155550100".into()));
        assert!(matches!(
            dialer.request_body(&call),
            Err(DialError::Rejected { status: 0, .. })
        ));
    }
}
