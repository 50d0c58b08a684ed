//! `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! (`AccountSid:AuthToken`), form-encoded `To`, `From` or
//! `MessagingServiceSid`, `Body` and `StatusCallback`.

use std::fmt;
use std::time::Duration;

use leadline_core::messaging::message::Recipient;
use leadline_core::messaging::provider::{
    Accepted, Content, DeliveryStatus, Outgoing, Refusal, SendFailure, Sender,
};
use serde::Deserialize;

use crate::http::{self, Answer, is_plain_id, not_sendable, refused, unreadable_success};
use crate::twilio::delivery_status;

/// A Twilio account: its sid (`AC…`) and auth token. The token signs the
/// account's webhooks too. `Debug` prints the sid only.
#[derive(Clone, PartialEq, Eq)]
pub struct TwilioAccount {
    pub sid: String,
    pub auth_token: String,
}

impl fmt::Debug for TwilioAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioAccount")
            .field("sid", &self.sid)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

/// Sends SMS through any Twilio account (the account comes with each send).
#[derive(Clone, Debug)]
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
}

/// Twilio's error body: `{"code":21610,"message":"…","more_info":"…","status":400}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// The created Message resource (only what leadline keeps).
#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl TwilioClient {
    pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// `http` is shared and built once by the caller; its own timeout, if
    /// any, is overridden per request by [`Self::with_timeout`]'s.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Another API root, such as the provider simulator's.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `outgoing` through `account`, asking Twilio to report its
    /// progress to `status_callback` (see
    /// [`status_callback_url`](crate::twilio::status_callback_url)).
    pub async fn send(
        &self,
        account: &TwilioAccount,
        outgoing: &Outgoing,
        status_callback: Option<&str>,
    ) -> Result<Accepted, SendFailure> {
        if !is_plain_id(&account.sid) {
            return Err(not_sendable(
                "twilio_account",
                "the Twilio account sid is not an AC… sid",
            ));
        }
        let form = form_body(outgoing, status_callback)?;
        let request = self
            .http
            .post(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url, account.sid
            ))
            .basic_auth(&account.sid, Some(&account.auth_token))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        let answer = http::send("twilio", request, self.timeout).await?;
        accepted(&answer).inspect_err(|failure| {
            tracing::warn!(
                provider = "twilio",
                message = %outgoing.message,
                status = answer.status,
                error = %failure,
                "Twilio did not take the message"
            );
        })
    }
}

/// The form Twilio is sent for `outgoing`.
pub(crate) fn form_body(
    outgoing: &Outgoing,
    status_callback: Option<&str>,
) -> Result<String, SendFailure> {
    let Recipient::Phone(to) = &outgoing.to else {
        return Err(not_sendable(
            "recipient",
            "an SMS goes to a phone number, not an email address",
        ));
    };
    let body = match &outgoing.content {
        Content::Text { body, .. } => body,
        Content::Template { .. } => {
            return Err(not_sendable(
                "template_on_sms",
                "a WhatsApp template cannot be sent as an SMS",
            ));
        }
    };
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", to.e164());
    match &outgoing.sender {
        Sender::TwilioNumber { number } => form.append_pair("From", number.e164()),
        Sender::TwilioService { sid } => form.append_pair("MessagingServiceSid", sid),
        Sender::Email { .. } | Sender::Whatsapp { .. } => {
            return Err(not_sendable(
                "sender",
                "an SMS goes from a Twilio number or Messaging Service",
            ));
        }
    };
    form.append_pair("Body", body);
    if let Some(url) = status_callback {
        form.append_pair("StatusCallback", url);
    }
    Ok(form.finish())
}

/// Twilio's answer to a create-message request, read.
fn accepted(answer: &Answer) -> Result<Accepted, SendFailure> {
    if !answer.is_success() {
        return Err(classify(answer));
    }
    let created: Created = serde_json::from_str(&answer.body)
        .map_err(|_| unreadable_success("Twilio", answer.status, "a readable message"))?;
    let provider_id = created
        .sid
        .filter(|sid| !sid.is_empty())
        .ok_or_else(|| unreadable_success("Twilio", answer.status, "a message sid"))?;
    let status = created
        .status
        .as_deref()
        .and_then(delivery_status)
        .unwrap_or(DeliveryStatus::Queued);
    Ok(Accepted {
        provider_id,
        status,
    })
}

/// Sorts a refused create-message request: 429 (Twilio's 20429) is rate
/// limited, a 5xx unavailable; otherwise by Twilio's error code: 21610 (the
/// recipient replied STOP) is [`Refusal::OptedOut`]; 21211 (invalid `To`),
/// 21614 (not a mobile number), 21612 (no route to the number) and 21408
/// (the number's region is not enabled) are [`Refusal::InvalidAddress`];
/// anything else [`Refusal::Rejected`], with Twilio's code (else the HTTP
/// status) and message.
fn classify(answer: &Answer) -> SendFailure {
    if let Some(failure) = answer.common_failure("Twilio") {
        return failure;
    }
    let error = serde_json::from_str::<ErrorBody>(&answer.body).ok();
    let code = error
        .as_ref()
        .and_then(|e| match e.code.as_ref()? {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| answer.status.to_string());
    let message = error
        .and_then(|e| e.message)
        .unwrap_or_else(|| answer.body.clone());
    let refusal = match code.as_str() {
        "21610" => Refusal::OptedOut,
        "21211" | "21614" | "21612" | "21408" => Refusal::InvalidAddress,
        _ => Refusal::Rejected,
    };
    refused(refusal, code, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::messaging::provider::Account;
    use leadline_core::{Email, LeadId, MessageId, Phone, TenantId};
    use reqwest::header::HeaderMap;

    fn outgoing(sender: Sender, content: Content) -> Outgoing {
        Outgoing {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[1; 15]),
            message: MessageId::from_bytes(&[2; 15]),
            account: Account::Deployment,
            sender,
            to: Phone::parse("+14155550199", None).unwrap().into(),
            content,
        }
    }

    fn text(body: &str) -> Content {
        Content::Text {
            subject: None,
            body: body.into(),
        }
    }

    fn number() -> Sender {
        Sender::TwilioNumber {
            number: Phone::parse("+14155550100", None).unwrap(),
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    fn pairs(form: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn the_form_names_the_number_or_the_service() {
        let form = form_body(
            &outgoing(number(), text("Hi & bye")),
            Some("https://x/cb?a=1&b=2"),
        )
        .unwrap();
        assert_eq!(
            pairs(&form),
            [
                ("To".to_owned(), "+14155550199".to_owned()),
                ("From".into(), "+14155550100".into()),
                ("Body".into(), "Hi & bye".into()),
                ("StatusCallback".into(), "https://x/cb?a=1&b=2".into()),
            ]
        );
        let service = Sender::TwilioService {
            sid: "MG0123".into(),
        };
        let form = form_body(&outgoing(service, text("Hi")), None).unwrap();
        assert_eq!(form, "To=%2B14155550199&MessagingServiceSid=MG0123&Body=Hi");
    }

    #[test]
    fn a_template_an_email_recipient_or_another_sender_is_not_sent() {
        let template = Content::Template {
            name: "appt_reminder".into(),
            language: "en_US".into(),
            params: vec![],
            buttons: vec![],
        };
        let refusal_code = |result: Result<String, SendFailure>| match result {
            Err(SendFailure::Refused {
                refusal: Refusal::Rejected,
                code,
                ..
            }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refusal_code(form_body(&outgoing(number(), template), None)),
            "leadline.template_on_sms"
        );
        let mut to_email = outgoing(number(), text("Hi"));
        to_email.to = Email::parse("ana@example.com").unwrap().into();
        assert_eq!(
            refusal_code(form_body(&to_email, None)),
            "leadline.recipient"
        );
        let whatsapp = Sender::Whatsapp {
            phone_number_id: "1065".into(),
        };
        assert_eq!(
            refusal_code(form_body(&outgoing(whatsapp, text("Hi")), None)),
            "leadline.sender"
        );
    }

    #[test]
    fn a_created_message_is_accepted_with_its_sid_and_status() {
        let created = r#"{"sid":"SM1234","status":"queued","to":"+14155550199"}"#;
        assert_eq!(
            accepted(&answer(201, created)),
            Ok(Accepted {
                provider_id: "SM1234".into(),
                status: DeliveryStatus::Queued
            })
        );
        let accepted_status = r#"{"sid":"SM1234","status":"accepted"}"#;
        assert_eq!(
            accepted(&answer(201, accepted_status)).unwrap().status,
            DeliveryStatus::Queued
        );
        assert!(matches!(
            accepted(&answer(201, r#"{"status":"queued"}"#)),
            Err(SendFailure::Unavailable(_))
        ));
    }

    #[test]
    fn error_codes_are_sorted() {
        let refusal = |body: &str| match classify(&answer(400, body)) {
            SendFailure::Refused { refusal, code, .. } => (refusal, code),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refusal(
                r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#
            ),
            (Refusal::OptedOut, "21610".into())
        );
        for code in [21211, 21614, 21612, 21408] {
            let body = format!(r#"{{"code":{code},"message":"m","status":400}}"#);
            assert_eq!(refusal(&body), (Refusal::InvalidAddress, code.to_string()));
        }
        assert_eq!(
            refusal(
                r#"{"code":21606,"message":"The From phone number is not a valid, SMS-capable inbound phone number","status":400}"#
            ),
            (Refusal::Rejected, "21606".into())
        );
        assert_eq!(
            refusal("<html>Bad</html>"),
            (Refusal::Rejected, "400".into())
        );
    }

    #[test]
    fn the_token_never_prints() {
        let account = TwilioAccount {
            sid: "AC1".into(),
            auth_token: "s3cr3t".into(),
        };
        let printed = format!("{account:?}");
        assert!(
            !printed.contains("s3cr3t") && printed.contains("AC1"),
            "{printed}"
        );
    }
}
