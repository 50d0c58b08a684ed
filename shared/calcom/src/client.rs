//! The HTTP side: one request per port call, authenticated with the
//! tenant's key, cut off after [`CalcomClient::DEFAULT_TIMEOUT`].

use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use leadline_core::appointments::calendar::{
    Booking, Calendar, CalendarAccount, CalendarError, NewBooking, SlotQuery,
};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::wire::{self, API_VERSION_HEADER, BOOKINGS_API_VERSION, SLOTS_API_VERSION};

/// Cal.com for every tenant: the key comes with each call (in the
/// [`CalendarAccount`]), so one client, and one connection pool, serves them all.
#[derive(Clone, Debug)]
pub struct CalcomClient {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
}

impl CalcomClient {
    pub const DEFAULT_BASE_URL: &str = "https://api.cal.com";

    /// How long one request may take while a caller is on the line: past
    /// this, the agent's silence costs more than a promised call-back.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// `http` is shared and built once by the caller; its own timeout, if
    /// any, is overridden per request by [`Self::with_timeout`]'s.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Another API root, such as a simulator's or a test server's.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Another cut-off, for callers that are not on the phone.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL of an endpoint. Segments are percent-encoded, so that a
    /// booking uid cannot reach another endpoint.
    fn url(&self, segments: &[&str]) -> Result<Url, CalendarError> {
        let invalid =
            || CalendarError::Unavailable(format!("invalid base URL {:?}", self.base_url));
        let mut url = Url::parse(&self.base_url).map_err(|_| invalid())?;
        url.path_segments_mut()
            .map_err(|()| invalid())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The endpoint of one booking. A uid that URLs would drop or merge
    /// ("", "." or "..") names no booking, and must not become a request to
    /// another endpoint.
    fn booking_url(&self, uid: &str, action: &str) -> Result<Url, CalendarError> {
        if matches!(uid, "" | "." | "..") {
            return Err(CalendarError::NotFound);
        }
        self.url(&["v2", "bookings", uid, action])
    }

    /// Sends one request and answers the body of its 2xx, or the failure
    /// classified. Only the path, status and time are logged: the key, the
    /// attendee's contact details and the bodies stay out of the logs.
    async fn send(
        &self,
        account: &CalendarAccount,
        method: Method,
        url: Url,
        api_version: &'static str,
        body: Option<Value>,
    ) -> Result<Vec<u8>, CalendarError> {
        let path = url.path().to_owned();
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&account.api_key)
            .header(API_VERSION_HEADER, api_version)
            .timeout(self.timeout);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis();
        match answer {
            Ok((status, body)) => {
                tracing::debug!(path, status, elapsed_ms, "Cal.com answered");
                if (200..300).contains(&status) {
                    Ok(body.into())
                } else {
                    Err(wire::classify(status, &body))
                }
            }
            Err(error) => {
                tracing::debug!(
                    path,
                    elapsed_ms,
                    timeout = error.is_timeout(),
                    "Cal.com did not answer"
                );
                Err(self.no_answer(error))
            }
        }
    }

    /// A request without an HTTP answer. Even a timed-out booking may have
    /// been made, but the caller cannot wait to find out; the follow-up
    /// task settles it.
    fn no_answer(&self, error: reqwest::Error) -> CalendarError {
        CalendarError::Unavailable(if error.is_timeout() {
            format!("no answer within {} ms", self.timeout.as_millis())
        } else {
            format!("could not reach Cal.com: {}", error.without_url())
        })
    }
}

#[async_trait]
impl Calendar for CalcomClient {
    async fn free_slots(
        &self,
        account: &CalendarAccount,
        query: &SlotQuery,
    ) -> Result<Vec<Timestamp>, CalendarError> {
        let mut url = self.url(&["v2", "slots"])?;
        url.query_pairs_mut().extend_pairs(wire::slots_query(query));
        let body = self
            .send(account, Method::GET, url, SLOTS_API_VERSION, None)
            .await?;
        wire::parse_slots(&body, query.from, query.to)
    }

    async fn book(
        &self,
        account: &CalendarAccount,
        booking: &NewBooking,
    ) -> Result<Booking, CalendarError> {
        let url = self.url(&["v2", "bookings"])?;
        let body = wire::book_body(booking);
        let answer = self
            .send(account, Method::POST, url, BOOKINGS_API_VERSION, Some(body))
            .await?;
        wire::parse_booking(&answer)
    }

    async fn reschedule(
        &self,
        account: &CalendarAccount,
        uid: &str,
        start: Timestamp,
        reason: &str,
    ) -> Result<Booking, CalendarError> {
        let url = self.booking_url(uid, "reschedule")?;
        let body = wire::reschedule_body(start, reason);
        let answer = self
            .send(account, Method::POST, url, BOOKINGS_API_VERSION, Some(body))
            .await?;
        wire::parse_booking(&answer)
    }

    async fn cancel(
        &self,
        account: &CalendarAccount,
        uid: &str,
        reason: &str,
    ) -> Result<(), CalendarError> {
        let url = self.booking_url(uid, "cancel")?;
        let body = wire::cancel_body(reason);
        self.send(account, Method::POST, url, BOOKINGS_API_VERSION, Some(body))
            .await
            .map(drop)
    }
}
