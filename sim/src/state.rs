//! The simulator's state, shared by the HTTP handlers, the calls in progress
//! and the tests: [`SimControl`] is its handle.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use jiff::Timestamp;
use tokio::task::AbortHandle;

use crate::calcom::Calendar;
use crate::call::{CallFacts, Milestone, PlacedCall};
use crate::config::SimConfig;
use crate::faults::{DeliveryFaults, FaultRequest, ForcedResponse, ProviderFaults};
use crate::ids::is_e164;
use crate::messaging::state::Messaging;
use crate::provider::{PerProvider, Provider};
use crate::records::{CallRequestRecord, DeliveryRecord, Filter, Stats, ToolCallRecord};
use crate::script::Script;

/// Controls and inspects a running simulator, in process; the `/_sim/`
/// endpoints do the same over HTTP. Cheap to clone.
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

struct Shared {
    config: SimConfig,
    url: String,
    started: Instant,
    http: reqwest::Client,
    state: Mutex<State>,
    /// The simulated Cal.com, which shares nothing with the calls.
    calendar: Mutex<Calendar>,
    /// The simulated Twilio SMS, SendGrid and WhatsApp.
    messaging: Mutex<Messaging>,
}

struct State {
    scripts: BTreeMap<String, Script>,
    faults: PerProvider<ProviderFaults>,
    webhook_urls: PerProvider<Option<String>>,
    /// Where Retell's tool calls go, when not next to its webhooks.
    retell_tools_url: Option<String>,
    limits: PerProvider<usize>,
    in_flight: PerProvider<usize>,
    requests: Vec<CallRequestRecord>,
    calls: HashMap<String, LiveCall>,
    deliveries: Vec<DeliveryRecord>,
    tool_calls: Vec<ToolCallRecord>,
    tasks: Vec<AbortHandle>,
}

/// An accepted call, until a reset forgets it.
struct LiveCall {
    call: Arc<PlacedCall>,
    facts: CallFacts,
    /// Its create-call request in `State::requests`.
    request: usize,
}

/// A control request the simulator cannot follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlError(pub String);

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

impl SimControl {
    pub(crate) fn new(config: SimConfig, url: String, http: reqwest::Client) -> Self {
        let state = State {
            scripts: BTreeMap::new(),
            faults: PerProvider::default(),
            webhook_urls: PerProvider {
                retell: config.retell_webhook_url.clone(),
                vapi: config.vapi_webhook_url.clone(),
            },
            retell_tools_url: config.retell_tools_url.clone(),
            limits: PerProvider::both(config.max_concurrent_calls),
            in_flight: PerProvider::default(),
            requests: Vec::new(),
            calls: HashMap::new(),
            deliveries: Vec::new(),
            tool_calls: Vec::new(),
            tasks: Vec::new(),
        };
        let messaging = Mutex::new(Messaging::new(&config));
        SimControl {
            shared: Arc::new(Shared {
                messaging,
                config,
                url,
                started: Instant::now(),
                http,
                state: Mutex::new(state),
                calendar: Mutex::new(Calendar::default()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the simulator down with it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn calendar(&self) -> MutexGuard<'_, Calendar> {
        self.shared
            .calendar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn messaging(&self) -> MutexGuard<'_, Messaging> {
        self.shared
            .messaging
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:<port>`, the base URL of the provider APIs.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.shared.http
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.shared.started.elapsed().as_millis() as u64
    }

    // ----- scripts -----

    /// Calls to `number` play `script` from now on.
    pub fn set_script(&self, number: &str, script: Script) -> Result<(), ControlError> {
        if !is_e164(number) {
            return Err(ControlError(format!(
                "{number:?} is not an E.164 number (+ and 7 to 15 digits)"
            )));
        }
        self.state().scripts.insert(number.to_owned(), script);
        Ok(())
    }

    /// Returns calls to `number` to the default script; false if it had none.
    pub fn remove_script(&self, number: &str) -> bool {
        self.state().scripts.remove(number).is_some()
    }

    /// The script the next call to `number` plays, and whether it was set explicitly.
    pub fn script_for(&self, number: &str) -> (Script, bool) {
        match self.state().scripts.get(number) {
            Some(script) => (script.clone(), true),
            None => (self.config().default_script.pick(number), false),
        }
    }

    // ----- faults and settings -----

    pub fn apply_faults(&self, request: FaultRequest) -> Result<(), ControlError> {
        request.validate().map_err(ControlError)?;
        self.state().faults.get_mut(request.provider).apply(request);
        Ok(())
    }

    pub fn faults(&self) -> PerProvider<ProviderFaults> {
        self.state().faults.clone()
    }

    pub(crate) fn next_forced(
        &self,
        provider: Provider,
        to: Option<&str>,
    ) -> Option<ForcedResponse> {
        self.state().faults.get_mut(provider).next_forced(to)
    }

    pub(crate) fn delivery_faults(&self, provider: Provider, to: &str) -> DeliveryFaults {
        self.state().faults.get(provider).webhooks_for(to)
    }

    pub fn set_webhook_url(&self, provider: Provider, url: Option<String>) {
        *self.state().webhook_urls.get_mut(provider) = url;
    }

    pub fn webhook_urls(&self) -> PerProvider<Option<String>> {
        self.state().webhook_urls.clone()
    }

    pub(crate) fn webhook_url(&self, provider: Provider) -> Option<String> {
        self.state().webhook_urls.get(provider).clone()
    }

    /// Sends Retell's tool calls to `url`; `None`: next to its webhooks.
    pub fn set_retell_tools_url(&self, url: Option<String>) {
        self.state().retell_tools_url = url;
    }

    /// Where Retell's tool calls go: the URL set, else the Retell webhook URL
    /// with `/tools` appended.
    pub fn retell_tools_url(&self) -> Option<String> {
        let state = self.state();
        state.retell_tools_url.clone().or_else(|| {
            let webhooks = state.webhook_urls.retell.as_deref()?;
            Some(format!("{}/tools", webhooks.trim_end_matches('/')))
        })
    }

    /// Changes one account's concurrency limit; calls in progress keep their slots.
    pub fn set_max_concurrent_calls(&self, provider: Provider, limit: usize) {
        *self.state().limits.get_mut(provider) = limit;
    }

    pub fn max_concurrent_calls(&self) -> PerProvider<usize> {
        self.state().limits.clone()
    }

    /// Forgets scripts, faults, records and the calls in progress (their
    /// remaining webhooks and tool calls are not sent, stuck calls included,
    /// and their slots are free again), everything Cal.com holds, and the
    /// messaging providers' scripts, opt-outs, windows, faults and records.
    /// Webhook URLs, limits, Twilio accounts and services and WhatsApp
    /// templates stay.
    pub fn reset(&self) {
        let mut state = self.state();
        for task in state.tasks.drain(..) {
            task.abort();
        }
        state.scripts.clear();
        state.faults = PerProvider::default();
        state.in_flight = PerProvider::default();
        state.requests.clear();
        state.calls.clear();
        state.deliveries.clear();
        state.tool_calls.clear();
        drop(state);
        *self.calendar() = Calendar::default();
        self.messaging().reset();
    }

    pub(crate) fn abort_tasks(&self) {
        for task in self.state().tasks.drain(..) {
            task.abort();
        }
    }

    /// Runs `task` until it ends or a reset aborts it.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        let mut state = self.state();
        state.tasks.retain(|task| !task.is_finished());
        state.tasks.push(handle);
    }

    // ----- records -----

    /// Every create-call request received that `filter` selects, oldest first.
    pub fn calls(&self, filter: &Filter) -> Vec<CallRequestRecord> {
        self.state()
            .requests
            .iter()
            .filter(|r| filter.matches(r.provider, r.to.as_deref(), r.call_id.as_deref()))
            .cloned()
            .collect()
    }

    /// Every webhook delivery attempt that `filter` selects, oldest first.
    pub fn deliveries(&self, filter: &Filter) -> Vec<DeliveryRecord> {
        self.state()
            .deliveries
            .iter()
            .filter(|d| filter.matches(d.provider, Some(&d.to), Some(&d.call_id)))
            .cloned()
            .collect()
    }

    /// Every tool call the agents made that `filter` selects, oldest first.
    pub fn tool_calls(&self, filter: &Filter) -> Vec<ToolCallRecord> {
        self.state()
            .tool_calls
            .iter()
            .filter(|t| filter.matches(t.provider, Some(&t.to), Some(&t.call_id)))
            .cloned()
            .collect()
    }

    pub fn stats(&self, filter: &Filter) -> Stats {
        let state = self.state();
        Stats::of(
            state
                .requests
                .iter()
                .filter(|r| filter.matches(r.provider, r.to.as_deref(), r.call_id.as_deref())),
        )
    }

    /// Records a refused request.
    pub(crate) fn log_request(&self, mut record: CallRequestRecord) {
        let mut state = self.state();
        record.seq = state.requests.len() + 1;
        state.requests.push(record);
    }

    /// Takes a slot for `call` and records the request as accepted, or, when
    /// the account is at its limit, returns the limit.
    pub(crate) fn admit(
        &self,
        mut record: CallRequestRecord,
        call: Arc<PlacedCall>,
    ) -> Result<(), usize> {
        let now = self.elapsed_ms();
        let mut state = self.state();
        let limit = *state.limits.get(call.provider);
        let in_flight = state.in_flight.get_mut(call.provider);
        if *in_flight >= limit {
            return Err(limit);
        }
        *in_flight += 1;
        record.seq = state.requests.len() + 1;
        record.accepted_ms = Some(now);
        let request = state.requests.len();
        state.requests.push(record);
        state.calls.insert(
            call.id.clone(),
            LiveCall {
                call,
                facts: CallFacts::DIALING,
                request,
            },
        );
        Ok(())
    }

    /// Moves a call to `milestone` (an ended call frees its slot) and returns
    /// its facts; `None` once a reset forgot the call.
    pub(crate) fn advance(&self, call_id: &str, milestone: Milestone) -> Option<CallFacts> {
        let now = self.elapsed_ms();
        let virtual_now = self.config().virtual_now();
        let mut guard = self.state();
        let state = &mut *guard;
        let live = state.calls.get_mut(call_id)?;
        live.facts
            .advance(&live.call, milestone, Timestamp::now(), virtual_now);
        let record = &mut state.requests[live.request];
        record.phase = Some(live.facts.phase);
        if milestone == Milestone::Ended && record.released_ms.is_none() {
            record.released_ms = Some(now);
            let in_flight = state.in_flight.get_mut(record.provider);
            *in_flight = in_flight.saturating_sub(1);
        }
        Some(live.facts)
    }

    /// A call of `provider` and where it stands.
    pub(crate) fn live_call(
        &self,
        provider: Provider,
        call_id: &str,
    ) -> Option<(Arc<PlacedCall>, CallFacts)> {
        let state = self.state();
        let live = state.calls.get(call_id)?;
        (live.call.provider == provider).then(|| (live.call.clone(), live.facts))
    }

    /// Records a tool call of a call the simulator still knows.
    pub(crate) fn log_tool_call(&self, mut record: ToolCallRecord) {
        let mut state = self.state();
        if state.calls.contains_key(&record.call_id) {
            record.seq = state.tool_calls.len() + 1;
            state.tool_calls.push(record);
        }
    }

    /// Records a delivery attempt of a call the simulator still knows.
    pub(crate) fn log_delivery(&self, mut record: DeliveryRecord) {
        let mut state = self.state();
        if state.calls.contains_key(&record.call_id) {
            record.seq = state.deliveries.len() + 1;
            state.deliveries.push(record);
        }
    }
}
