//! The agent's tool calls: once the lead is on the line, the simulated agent
//! calls the backend's functions as Retell (custom functions) and Vapi
//! (`tool-calls` server messages) do, and books the appointment its script
//! asks for. The call plays out meanwhile, whatever the functions answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header::CONTENT_TYPE;
use jiff::Timestamp;
use serde_json::{Map, Value};
use tracing::debug;

use crate::call::PlacedCall;
use crate::deliver::{authenticate, webhook_destination};
use crate::provider::Provider;
use crate::records::ToolCallRecord;
use crate::script::ScriptedBooking;
use crate::state::SimControl;
use crate::{retell, vapi};

/// How far into the scripted conversation the agent starts on its functions.
const START_AT_SHARE_OF_TALK: f64 = 0.2;

/// How long the agent waits for a function (real time, not scaled): Vapi's
/// default; Retell waits up to 2 minutes, which no test wants to sit through.
pub(crate) const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// A provider's request for one function call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ToolCall {
    pub body: Value,
    /// Vapi's id of the call, which its answer must name.
    pub tool_call_id: Option<String>,
}

/// What a function call came to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ToolAnswer {
    /// What the function returned, parsed when it is JSON.
    pub answer: Option<Value>,
    pub error: Option<String>,
}

impl ToolAnswer {
    /// A function's returned text, parsed when it is JSON.
    pub(crate) fn returned(text: &str) -> Self {
        let answer = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        ToolAnswer::of(answer)
    }

    /// A function's returned value: a failure when it is an object with an `error`.
    pub(crate) fn of(answer: Value) -> Self {
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned);
        ToolAnswer {
            answer: Some(answer),
            error,
        }
    }

    pub(crate) fn failed(error: impl Into<String>) -> Self {
        ToolAnswer {
            answer: None,
            error: Some(error.into()),
        }
    }
}

/// Runs the script's function calls on `call`, which just connected.
pub(crate) async fn use_tools(control: SimControl, call: Arc<PlacedCall>) {
    let talk = f64::from(call.script.talk_seconds);
    tokio::time::sleep(control.config().scaled(talk * START_AT_SHARE_OF_TALK)).await;
    let mut agent = Agent {
        control,
        call: call.clone(),
        made: 0,
    };
    for step in &call.script.tools {
        agent.invoke(&step.name, step.args.clone()).await;
    }
    if let Some(booking) = &call.script.booking {
        agent.book(booking).await;
    }
}

/// The agent on one call.
struct Agent {
    control: SimControl,
    call: Arc<PlacedCall>,
    /// Function calls made so far.
    made: u32,
}

impl Agent {
    /// Asks for the service's availability and books the first slot offered;
    /// when the backend answers that it is gone, the first alternative.
    async fn book(&mut self, booking: &ScriptedBooking) {
        let service = booking.service.as_str();
        let mut ask = arguments([("service", service)]);
        if let Some(date) = &booking.date {
            ask.insert("date".into(), Value::from(date.as_str()));
        }
        let offer = self.invoke("check_availability", ask).await;
        let Some(start) = offer.as_ref().and_then(|offer| first_start(offer, "slots")) else {
            return;
        };
        let phone = self.call.to.clone();
        let book = |start: &str| {
            arguments([
                ("service", service),
                ("start", start),
                ("name", &booking.name),
                ("email", &booking.email),
                ("phone", &phone),
            ])
        };
        let Some(answer) = self.invoke("book_appointment", book(&start)).await else {
            return;
        };
        if answer.get("booked") == Some(&Value::Bool(false))
            && let Some(alternative) = first_start(&answer, "alternatives")
        {
            self.invoke("book_appointment", book(&alternative)).await;
        }
    }

    /// Calls function `name` and records how it went; what the function
    /// returned, unless it failed or the call is forgotten.
    async fn invoke(&mut self, name: &str, args: Map<String, Value>) -> Option<Value> {
        let (call, facts) = self.control.live_call(self.call.provider, &self.call.id)?;
        self.made += 1;
        let request = call.tool_call(&facts, name, &args, self.made);
        let (url, secret) = match call.provider {
            Provider::Retell => (self.control.retell_tools_url(), None),
            Provider::Vapi => {
                webhook_destination(&self.control, call.provider, call.webhook_target())
            }
        };
        let at = Timestamp::now();
        let started = Instant::now();
        let (status, result) = match &url {
            Some(url) => self.send(url, secret.as_deref(), &request).await,
            None => (None, ToolAnswer::failed("no URL to send tool calls to")),
        };
        debug!(call_id = %call.id, function = name, ?status, error = ?result.error, "tool call");
        self.control.log_tool_call(ToolCallRecord {
            seq: 0,
            provider: call.provider,
            call_id: call.id.clone(),
            to: call.to.clone(),
            name: name.to_owned(),
            args,
            tool_call_id: request.tool_call_id,
            url,
            status,
            answer: result.answer.clone(),
            error: result.error.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            at,
        });
        result.error.is_none().then_some(result.answer).flatten()
    }

    /// POSTs the function call; the backend's status and what it returned.
    async fn send(
        &self,
        url: &str,
        secret: Option<&str>,
        request: &ToolCall,
    ) -> (Option<u16>, ToolAnswer) {
        let provider = self.call.provider;
        let body = serde_json::to_vec(&request.body).unwrap_or_default();
        let http = self
            .control
            .http()
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(TOOL_TIMEOUT)
            .body(body.clone());
        let http = authenticate(http, self.control.config(), provider, &body, secret);
        let response = match http.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return (
                    None,
                    ToolAnswer::failed(format!("no answer within {TOOL_TIMEOUT:?}")),
                );
            }
            Err(e) => return (None, ToolAnswer::failed(format!("unreachable: {e}"))),
        };
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let result = if !status.is_success() {
            ToolAnswer {
                error: Some(format!("HTTP {status}")),
                ..ToolAnswer::returned(&String::from_utf8_lossy(&body))
            }
        } else {
            match provider {
                Provider::Retell => retell::tool_answer(&body),
                Provider::Vapi => {
                    vapi::tool_answer(&body, request.tool_call_id.as_deref().unwrap_or_default())
                }
            }
        };
        (Some(status.as_u16()), result)
    }
}

/// Function arguments, all strings.
fn arguments<const N: usize>(pairs: [(&str, &str); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Value::from(value)))
        .collect()
}

/// The `start` of the first entry of the list `key` of a function's answer.
fn first_start(answer: &Value, key: &str) -> Option<String> {
    Some(answer.get(key)?.get(0)?.get("start")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests;
