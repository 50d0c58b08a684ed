//! The three send clients, through `Providers`, against a local server: the
//! exact request each sends, and how each class of answer (from realistic
//! provider bodies) becomes `Accepted` or a `SendFailure`.

mod support;

use std::time::Duration;

use data_encoding::BASE64;
use leadline_core::kernel::redact::leaks;
use leadline_core::messaging::message::Recipient;
use leadline_core::messaging::provider::{
    Accepted, Account, Content, DeliveryStatus, MessageProvider, Outgoing, Refusal, SendFailure,
    Sender,
};
use leadline_core::{Email, LeadId, MessageId, Phone, TenantId};
use leadline_messaging::{MemoryAccounts, MessagingAccounts, MessagingConfig, Providers, twilio};
use serde_json::json;
use support::{Canned, Recorded, closed_port, serve_once};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const PUBLIC_BASE: &str = "https://hooks.leadline.example";
const TIMEOUT: Duration = Duration::from_millis(400);

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn lead() -> LeadId {
    LeadId::from_bytes(&[5; 15])
}

fn message() -> MessageId {
    MessageId::from_bytes(&[6; 15])
}

fn lead_phone() -> Recipient {
    Phone::parse("+14155550199", None).unwrap().into()
}

fn lead_email() -> Recipient {
    Email::parse("ana@example.com").unwrap().into()
}

fn twilio_number() -> Sender {
    Sender::TwilioNumber {
        number: Phone::parse("+14155550100", None).unwrap(),
    }
}

fn email_sender() -> Sender {
    Sender::Email {
        from: Email::parse("hello@acme.example").unwrap(),
        name: Some("Acme Roofing".into()),
    }
}

fn whatsapp_sender() -> Sender {
    Sender::Whatsapp {
        phone_number_id: "106540352242922".into(),
    }
}

fn text(subject: Option<&str>, body: &str) -> Content {
    Content::Text {
        subject: subject.map(str::to_owned),
        body: body.into(),
    }
}

fn outgoing(sender: Sender, to: Recipient, content: Content) -> Outgoing {
    Outgoing {
        tenant: tenant(),
        lead: lead(),
        message: message(),
        account: Account::Deployment,
        sender,
        to,
        content,
    }
}

fn sms(body: &str) -> Outgoing {
    outgoing(twilio_number(), lead_phone(), text(None, body))
}

fn email() -> Outgoing {
    outgoing(
        email_sender(),
        lead_email(),
        text(Some("Your appointment"), "See you Tuesday at 10:00."),
    )
}

fn whatsapp_text() -> Outgoing {
    outgoing(whatsapp_sender(), lead_phone(), text(None, "Olá! ✅"))
}

fn deployment() -> MessagingAccounts {
    MessagingAccounts {
        twilio_account_sid: Some(TWILIO_SID.into()),
        twilio_auth_token: Some("deployment-token".into()),
        sendgrid_api_key: Some("SG.deployment".into()),
        whatsapp_access_token: Some("EAAG-deployment".into()),
        ..MessagingAccounts::default()
    }
}

fn providers_with(base_url: &str, tenants: MemoryAccounts) -> Providers<MemoryAccounts> {
    let config = MessagingConfig {
        twilio_api_url: base_url.into(),
        sendgrid_api_url: base_url.into(),
        whatsapp_api_url: format!("{base_url}/"),
        timeout: TIMEOUT,
        public_base_url: Some(PUBLIC_BASE.into()),
        ..MessagingConfig::default()
    };
    Providers::new(reqwest::Client::new(), &config, deployment(), tenants)
}

async fn send_with(
    canned: Canned,
    tenants: MemoryAccounts,
    outgoing: &Outgoing,
) -> (Result<Accepted, SendFailure>, Option<Recorded>) {
    let (base_url, received) = serve_once(canned);
    let result = providers_with(&base_url, tenants).send(outgoing).await;
    // The server records a request before it answers: once the send is
    // over, a request that was made is there.
    (
        result,
        received.recv_timeout(Duration::from_millis(100)).ok(),
    )
}

async fn send(
    canned: Canned,
    outgoing: &Outgoing,
) -> (Result<Accepted, SendFailure>, Option<Recorded>) {
    send_with(canned, MemoryAccounts::default(), outgoing).await
}

/// A refusal's class and code, checking its words carry no number or address.
fn refusal(result: Result<Accepted, SendFailure>) -> (Refusal, String) {
    match result {
        Err(failure @ SendFailure::Refused { .. }) => {
            let printed = failure.to_string();
            assert!(leaks(&printed).is_empty(), "{printed}");
            let SendFailure::Refused { refusal, code, .. } = failure else {
                unreachable!()
            };
            (refusal, code)
        }
        other => panic!("not a refusal: {other:?}"),
    }
}

fn is_unavailable(result: &Result<Accepted, SendFailure>) -> bool {
    matches!(result, Err(SendFailure::Unavailable(_)))
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

// --- Twilio ----------------------------------------------------------------

const TWILIO_CREATED: &str = r#"{"account_sid": "AC0123456789abcdef0123456789abcdef", "api_version": "2010-04-01", "body": "Reply C to confirm", "date_created": "Tue, 24 Nov 2026 15:30:00 +0000", "date_sent": null, "date_updated": "Tue, 24 Nov 2026 15:30:00 +0000", "direction": "outbound-api", "error_code": null, "error_message": null, "from": "+14155550100", "messaging_service_sid": null, "num_media": "0", "num_segments": "1", "price": null, "price_unit": "USD", "sid": "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c", "status": "queued", "subresource_uris": {"media": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c/Media.json"}, "to": "+14155550199", "uri": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c.json"}"#;

#[tokio::test]
async fn twilio_is_sent_the_form_with_our_status_callback() {
    let (result, request) = send(
        Canned::json(201, TWILIO_CREATED),
        &sms("Reply C to confirm"),
    )
    .await;
    assert_eq!(
        result,
        Ok(Accepted {
            provider_id: "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c".into(),
            status: DeliveryStatus::Queued
        })
    );
    let request = request.expect("the server got the request");
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
    );
    assert_eq!(
        request.header("authorization"),
        Some(basic(TWILIO_SID, "deployment-token").as_str())
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let callback = format!(
        "{PUBLIC_BASE}/webhooks/twilio/status?tenant=acme&lead={}&message={}",
        lead(),
        message()
    );
    assert_eq!(
        request.form(),
        [
            ("To".to_owned(), "+14155550199".to_owned()),
            ("From".into(), "+14155550100".into()),
            ("Body".into(), "Reply C to confirm".into()),
            ("StatusCallback".into(), callback.clone()),
        ]
    );
    assert_eq!(
        twilio::parse_status_callback_query(&callback),
        Ok((tenant(), lead(), message()))
    );
}

#[tokio::test]
async fn twilio_is_sent_the_messaging_service_instead_of_a_number() {
    let service = Sender::TwilioService {
        sid: "MG0123456789abcdef0123456789abcdef".into(),
    };
    let outgoing = outgoing(service, lead_phone(), text(None, "Hi"));
    let (result, request) = send(Canned::json(201, TWILIO_CREATED), &outgoing).await;
    assert!(result.is_ok());
    let form = request.unwrap().form();
    assert!(form.contains(&(
        "MessagingServiceSid".into(),
        "MG0123456789abcdef0123456789abcdef".into()
    )));
    assert!(!form.iter().any(|(name, _)| name == "From"));
}

#[tokio::test]
async fn twilio_opt_out_is_refused_as_opted_out() {
    let body = r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#;
    let (result, _) = send(Canned::json(400, body), &sms("Hi")).await;
    assert_eq!(refusal(result), (Refusal::OptedOut, "21610".into()));
}

#[tokio::test]
async fn twilio_bad_numbers_are_invalid_addresses_and_the_number_is_masked() {
    let body = r#"{"code": 21211, "message": "Invalid 'To' Phone Number: +14155550199", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
    let (result, _) = send(Canned::json(400, body), &sms("Hi")).await;
    assert_eq!(refusal(result), (Refusal::InvalidAddress, "21211".into()));

    let body = r#"{"code": 21614, "message": "'To' number is not a valid mobile number", "more_info": "https://www.twilio.com/docs/errors/21614", "status": 400}"#;
    let (result, _) = send(Canned::json(400, body), &sms("Hi")).await;
    assert_eq!(refusal(result), (Refusal::InvalidAddress, "21614".into()));
}

#[tokio::test]
async fn twilio_bad_credentials_are_rejected_with_the_code() {
    let body = r#"{"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authentication Error - invalid username", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
    let (result, _) = send(Canned::json(401, body), &sms("Hi")).await;
    let Err(SendFailure::Refused {
        refusal: Refusal::Rejected,
        code,
        detail,
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(code, "20003");
    assert_eq!(detail, "Authentication Error - invalid username");
}

#[tokio::test]
async fn twilio_too_many_requests_waits_for_retry_after() {
    let body = r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#;
    let (result, _) = send(
        Canned::json(429, body).header("Retry-After", "7"),
        &sms("Hi"),
    )
    .await;
    assert_eq!(
        result,
        Err(SendFailure::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        })
    );
}

#[tokio::test]
async fn twilio_server_errors_are_unavailable() {
    let body = r#"{"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}"#;
    let (result, _) = send(Canned::json(500, body), &sms("Hi")).await;
    assert!(is_unavailable(&result), "{result:?}");
    let (result, _) = send(
        Canned::json(503, "<html>Service Unavailable</html>"),
        &sms("Hi"),
    )
    .await;
    assert!(is_unavailable(&result), "{result:?}");
}

#[tokio::test]
async fn a_provider_that_never_answers_is_unavailable() {
    let (result, request) = send(
        Canned::json(201, TWILIO_CREATED).after(Duration::from_secs(3)),
        &sms("Hi"),
    )
    .await;
    assert!(request.is_some(), "the request was sent");
    let Err(SendFailure::Unavailable(reason)) = result else {
        panic!("{result:?}")
    };
    assert!(reason.contains("within 400 ms"), "{reason}");
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_unavailable() {
    let base_url = closed_port();
    for outgoing in [sms("Hi"), email(), whatsapp_text()] {
        let result = providers_with(&base_url, MemoryAccounts::default())
            .send(&outgoing)
            .await;
        assert!(is_unavailable(&result), "{result:?}");
    }
}

#[tokio::test]
async fn a_template_as_an_sms_is_refused_without_a_request() {
    let outgoing = outgoing(
        twilio_number(),
        lead_phone(),
        Content::Template {
            name: "appt_reminder".into(),
            language: "en_US".into(),
            params: vec![],
            buttons: vec![],
        },
    );
    let (result, request) = send(Canned::json(201, TWILIO_CREATED), &outgoing).await;
    assert_eq!(
        refusal(result),
        (Refusal::Rejected, "leadline.template_on_sms".into())
    );
    assert!(request.is_none());
}

// --- SendGrid --------------------------------------------------------------

#[tokio::test]
async fn sendgrid_is_sent_the_mail_with_our_ids_in_custom_args() {
    let (result, request) = send(
        Canned::json(202, "").header("X-Message-Id", "14c5d75ce93.dfd.64b469"),
        &email(),
    )
    .await;
    assert_eq!(
        result,
        Ok(Accepted {
            provider_id: "14c5d75ce93.dfd.64b469".into(),
            status: DeliveryStatus::Queued
        })
    );
    let request = request.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v3/mail/send");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer SG.deployment")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "personalizations": [{"to": [{"email": "ana@example.com"}]}],
            "from": {"email": "hello@acme.example", "name": "Acme Roofing"},
            "subject": "Your appointment",
            "content": [{"type": "text/plain", "value": "See you Tuesday at 10:00."}],
            "custom_args": {
                "leadline_tenant": "acme",
                "leadline_lead": lead().as_str(),
                "leadline_message": message().as_str()
            }
        })
    );
}

#[tokio::test]
async fn sendgrid_without_a_message_id_is_not_known_to_have_sent() {
    let (result, _) = send(Canned::json(202, ""), &email()).await;
    assert!(is_unavailable(&result), "{result:?}");
}

#[tokio::test]
async fn sendgrid_refusals_are_sorted() {
    let invalid = r#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"}]}"#;
    let (result, _) = send(Canned::json(400, invalid), &email()).await;
    assert_eq!(refusal(result), (Refusal::InvalidAddress, "400".into()));

    let unauthorized = r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked","help":null}]}"#;
    let (result, _) = send(Canned::json(401, unauthorized), &email()).await;
    assert_eq!(refusal(result), (Refusal::Rejected, "401".into()));

    let sender = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements","field":"from","help":null}]}"#;
    let (result, _) = send(Canned::json(403, sender), &email()).await;
    assert_eq!(refusal(result), (Refusal::Rejected, "403".into()));

    let limited = r#"{"errors":[{"field":null,"message":"too many requests"}]}"#;
    let (result, _) = send(Canned::json(429, limited), &email()).await;
    assert_eq!(result, Err(SendFailure::RateLimited { retry_after: None }));

    let (result, _) = send(
        Canned::json(500, r#"{"errors":[{"message":"internal error"}]}"#),
        &email(),
    )
    .await;
    assert!(is_unavailable(&result), "{result:?}");
}

// --- WhatsApp --------------------------------------------------------------

const WHATSAPP_ACCEPTED: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"14155550199","wa_id":"14155550199"}],"messages":[{"id":"wamid.HBgLMTQxNTU1NTAxOTkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA","message_status":"accepted"}]}"#;

fn whatsapp_error(code: u32, message: &str, details: &str) -> String {
    json!({"error": {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEfGhIjKlMnOp"
    }})
    .to_string()
}

#[tokio::test]
async fn whatsapp_is_sent_the_template_with_its_parameters_and_buttons() {
    let outgoing = outgoing(
        whatsapp_sender(),
        lead_phone(),
        Content::Template {
            name: "appt_reminder".into(),
            language: "en_US".into(),
            params: vec!["Ana".into(), "Tue 10:00".into()],
            buttons: vec!["CONFIRM:apt_1".into(), "CANCEL:apt_1".into()],
        },
    );
    let (result, request) = send(Canned::json(200, WHATSAPP_ACCEPTED), &outgoing).await;
    assert_eq!(
        result,
        Ok(Accepted {
            provider_id: "wamid.HBgLMTQxNTU1NTAxOTkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA".into(),
            status: DeliveryStatus::Queued
        })
    );
    let request = request.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v26.0/106540352242922/messages");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer EAAG-deployment")
    );
    assert_eq!(
        request.json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "14155550199",
            "type": "template",
            "template": {
                "name": "appt_reminder",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "body", "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "Tue 10:00"}
                    ]},
                    {"type": "button", "sub_type": "quick_reply", "index": "0",
                     "parameters": [{"type": "payload", "payload": "CONFIRM:apt_1"}]},
                    {"type": "button", "sub_type": "quick_reply", "index": "1",
                     "parameters": [{"type": "payload", "payload": "CANCEL:apt_1"}]}
                ]
            }
        })
    );
}

#[tokio::test]
async fn whatsapp_is_sent_free_text_as_text() {
    let (result, request) = send(Canned::json(200, WHATSAPP_ACCEPTED), &whatsapp_text()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        request.unwrap().json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "14155550199",
            "type": "text",
            "text": {"preview_url": false, "body": "Olá! ✅"}
        })
    );
}

#[tokio::test]
async fn whatsapp_refusals_are_sorted_by_code() {
    let cases = [
        (
            whatsapp_error(
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ),
            Refusal::OutsideWindow,
            "131047",
        ),
        (
            whatsapp_error(
                131026,
                "(#131026) Message undeliverable",
                "Message Undeliverable.",
            ),
            Refusal::NotOnWhatsapp,
            "131026",
        ),
        (
            whatsapp_error(
                132001,
                "(#132001) Template name does not exist in the translation",
                "template name (appt_reminder) does not exist in en_US",
            ),
            Refusal::Rejected,
            "132001",
        ),
    ];
    for (body, expected, code) in cases {
        let (result, _) = send(Canned::json(400, &body), &whatsapp_text()).await;
        assert_eq!(refusal(result), (expected, code.into()), "{body}");
    }
    let expired = r#"{"error":{"message":"Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEf"}}"#;
    let (result, _) = send(Canned::json(401, expired), &whatsapp_text()).await;
    assert_eq!(refusal(result), (Refusal::Rejected, "190".into()));
}

#[tokio::test]
async fn whatsapp_rate_limits_are_rate_limited() {
    for (code, message) in [
        (130429, "(#130429) Rate limit hit"),
        (131048, "(#131048) Spam rate limit hit"),
        (
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ),
    ] {
        let body = whatsapp_error(code, message, "Too many messages sent.");
        let (result, _) = send(Canned::json(400, &body), &whatsapp_text()).await;
        assert_eq!(
            result,
            Err(SendFailure::RateLimited { retry_after: None }),
            "{code}"
        );
    }
    let (result, _) = send(
        Canned::json(
            429,
            r#"{"error":{"message":"Too many calls","code":80007}}"#,
        )
        .header("Retry-After", "60"),
        &whatsapp_text(),
    )
    .await;
    assert_eq!(
        result,
        Err(SendFailure::RateLimited {
            retry_after: Some(Duration::from_secs(60))
        })
    );
}

#[tokio::test]
async fn whatsapp_server_errors_are_unavailable() {
    let body = r#"{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"fbtrace_id":"AbCdEf"}}"#;
    let (result, _) = send(Canned::json(500, body), &whatsapp_text()).await;
    assert!(is_unavailable(&result), "{result:?}");
}

// --- Accounts --------------------------------------------------------------

#[tokio::test]
async fn a_tenant_account_sends_with_the_tenant_credentials() {
    let tenants = MemoryAccounts::default().with(
        tenant(),
        MessagingAccounts {
            twilio_account_sid: Some("ACffffffffffffffffffffffffffffffff".into()),
            twilio_auth_token: Some("tenant-token".into()),
            ..MessagingAccounts::default()
        },
    );
    let mut outgoing = sms("Hi");
    outgoing.account = Account::Tenant(tenant());
    let (result, request) = send_with(Canned::json(201, TWILIO_CREATED), tenants, &outgoing).await;
    assert!(result.is_ok(), "{result:?}");
    let request = request.unwrap();
    assert_eq!(
        request.path,
        "/2010-04-01/Accounts/ACffffffffffffffffffffffffffffffff/Messages.json"
    );
    assert_eq!(
        request.header("authorization"),
        Some(basic("ACffffffffffffffffffffffffffffffff", "tenant-token").as_str())
    );
}

#[tokio::test]
async fn a_missing_account_is_refused_without_a_request() {
    let mut tenant_sms = sms("Hi");
    tenant_sms.account = Account::Tenant(tenant());
    let (result, request) = send(Canned::json(201, TWILIO_CREATED), &tenant_sms).await;
    assert_eq!(
        refusal(result),
        (Refusal::Rejected, "leadline.no_tenant_accounts".into())
    );
    assert!(request.is_none());

    // The tenant stored SendGrid only: its SMS has no Twilio account.
    let tenants = MemoryAccounts::default().with(
        tenant(),
        MessagingAccounts {
            sendgrid_api_key: Some("SG.tenant".into()),
            ..MessagingAccounts::default()
        },
    );
    let (result, request) =
        send_with(Canned::json(201, TWILIO_CREATED), tenants, &tenant_sms).await;
    assert_eq!(
        refusal(result),
        (Refusal::Rejected, "leadline.no_twilio_account".into())
    );
    assert!(request.is_none());

    let mut other_tenant = sms("Hi");
    other_tenant.account = Account::Tenant(TenantId::parse("globex").unwrap());
    let (result, request) = send(Canned::json(201, TWILIO_CREATED), &other_tenant).await;
    assert_eq!(
        refusal(result),
        (Refusal::Rejected, "leadline.account".into())
    );
    assert!(request.is_none());
}

#[tokio::test]
async fn unreadable_tenant_accounts_are_unavailable() {
    let mut outgoing = email();
    outgoing.account = Account::Tenant(tenant());
    let (result, request) = send_with(
        Canned::json(202, "").header("X-Message-Id", "x"),
        MemoryAccounts::unavailable(),
        &outgoing,
    )
    .await;
    assert!(is_unavailable(&result), "{result:?}");
    assert!(request.is_none());
}

#[tokio::test]
async fn a_channel_mismatch_is_refused_without_a_request() {
    let cases = [
        (
            outgoing(email_sender(), lead_phone(), text(Some("s"), "b")),
            "leadline.recipient",
        ),
        (
            outgoing(whatsapp_sender(), lead_email(), text(None, "b")),
            "leadline.recipient",
        ),
        (
            outgoing(twilio_number(), lead_email(), text(None, "b")),
            "leadline.recipient",
        ),
        (
            outgoing(email_sender(), lead_email(), text(None, "b")),
            "leadline.email_subject",
        ),
    ];
    for (outgoing, code) in cases {
        let (result, request) = send(Canned::json(200, "{}"), &outgoing).await;
        assert_eq!(
            refusal(result),
            (Refusal::Rejected, code.into()),
            "{outgoing:?}"
        );
        assert!(request.is_none());
    }
}
