//! The webhook readers on real-shaped deliveries: Twilio's inbound and
//! status-callback forms, SendGrid's event arrays, WhatsApp's envelopes;
//! and a clear error, without personal data, for what cannot be read.

use jiff::Timestamp;
use leadline_core::kernel::redact::leaks;
use leadline_core::messaging::message::Channel;
use leadline_core::messaging::provider::{DeliveryStatus, InboundAddress};
use leadline_core::{LeadId, MessageId, Phone, TenantId};
use leadline_messaging::{ParseError, SkipReason, sendgrid, twilio, whatsapp};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap()
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, None).unwrap()
}

fn ours() -> (TenantId, LeadId, MessageId) {
    (
        TenantId::parse("acme").unwrap(),
        LeadId::parse("ld_aaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
        MessageId::parse("msg_bbbbbbbbbbbbbbbbbbbbbbbb").unwrap(),
    )
}

/// The error's words carry no number or address.
fn no_personal_data(error: &ParseError) {
    let printed = error.to_string();
    assert!(leaks(&printed).is_empty(), "{printed}");
}

// --- Twilio ----------------------------------------------------------------

const RECEIVED: i64 = 1_795_530_600;

/// An inbound SMS as Twilio posts it (messaging-facts §1.1), with Advanced Opt-Out.
const TWILIO_INBOUND: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c&NumMedia=0&ToCity=SAN+FRANCISCO&FromZip=94105&SmsSid=SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=STOP&FromCountry=US&To=%2B14155550100&MessagingServiceSid=MG0123456789abcdef0123456789abcdef&ToZip=94105&NumSegments=1&ReferralNumMedia=0&MessageSid=SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c&AccountSid=AC0123456789abcdef0123456789abcdef&OptOutType=STOP&From=%2B14155550199&ApiVersion=2010-04-01";

fn twilio_form(raw: &str) -> Vec<(String, String)> {
    twilio::parse_form(raw.as_bytes())
}

#[test]
fn a_twilio_inbound_sms_is_read() {
    let inbound = twilio::parse_inbound(&twilio_form(TWILIO_INBOUND), at(RECEIVED)).unwrap();
    assert_eq!(inbound.channel, Channel::Sms);
    assert_eq!(inbound.provider_id, "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c");
    assert_eq!(inbound.from, phone("+14155550199"));
    assert_eq!(inbound.to, InboundAddress::Number(phone("+14155550100")));
    assert_eq!(inbound.body, "STOP");
    assert_eq!(inbound.button, None);
    assert_eq!(inbound.opt_out_type.as_deref(), Some("STOP"));
    assert_eq!(inbound.at, at(RECEIVED));
    assert_eq!(
        inbound.extra.get("MessagingServiceSid").map(String::as_str),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        inbound.extra.get("ToCity").map(String::as_str),
        Some("SAN FRANCISCO")
    );
    for kept_apart in ["From", "To", "Body", "MessageSid", "SmsSid", "OptOutType"] {
        assert!(!inbound.extra.contains_key(kept_apart), "{kept_apart}");
    }
}

#[test]
fn a_twilio_inbound_without_opt_out_type_has_none_and_keeps_unicode() {
    let raw = "MessageSid=SM1&From=%2B14155550199&To=%2B14155550100&Body=Ol%C3%A1%2C+C+%E2%9C%85&NumMedia=0";
    let inbound = twilio::parse_inbound(&twilio_form(raw), at(RECEIVED)).unwrap();
    assert_eq!(inbound.body, "Olá, C ✅");
    assert_eq!(inbound.opt_out_type, None);
}

#[test]
fn a_bad_twilio_inbound_form_says_what_is_wrong() {
    let cases = [
        (
            "MessageSid=SM1&To=%2B14155550100&Body=hi",
            ParseError::Missing("From"),
        ),
        (
            "MessageSid=SM1&From=&To=%2B14155550100",
            ParseError::Missing("From"),
        ),
        (
            "From=%2B14155550199&To=%2B14155550100",
            ParseError::Missing("MessageSid"),
        ),
        (
            "MessageSid=SM1&From=4155550199&To=%2B14155550100",
            ParseError::Invalid {
                field: "From",
                expected: "an E.164 phone number",
            },
        ),
        (
            "MessageSid=SM1&From=%2B1+415+555+0199&To=%2B14155550100",
            ParseError::Invalid {
                field: "From",
                expected: "an E.164 phone number",
            },
        ),
        (
            "MessageSid=SM1&From=%2B14155550199&To=12345",
            ParseError::Invalid {
                field: "To",
                expected: "an E.164 phone number",
            },
        ),
        (
            "MessageSid=SM1&From=whatsapp%3A%2B14155550199&To=whatsapp%3A%2B14155550100",
            ParseError::Unsupported("WhatsApp messages through Twilio".into()),
        ),
    ];
    for (raw, expected) in cases {
        let error = twilio::parse_inbound(&twilio_form(raw), at(RECEIVED)).unwrap_err();
        assert_eq!(error, expected, "{raw}");
        no_personal_data(&error);
    }
}

const TWILIO_DELIVERED: &str = "SmsSid=SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c&SmsStatus=delivered&MessageStatus=delivered&To=%2B14155550199&MessageSid=SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B14155550100&ApiVersion=2010-04-01&RawDlrDoneDate=2611241530";

#[test]
fn a_twilio_status_callback_is_read_with_our_ids() {
    let url = twilio::status_callback_url(
        "https://hooks.leadline.example/",
        &ours().0,
        &ours().1,
        &ours().2,
    );
    assert_eq!(
        url,
        "https://hooks.leadline.example/webhooks/twilio/status?tenant=acme&lead=ld_aaaaaaaaaaaaaaaaaaaaaaaa&message=msg_bbbbbbbbbbbbbbbbbbbbbbbb"
    );
    let query = url.split_once('?').unwrap().1;
    let ids = twilio::parse_status_callback_query(query).unwrap();
    assert_eq!(ids, ours());
    assert_eq!(
        twilio::parse_status_callback_query(&format!("?{query}")),
        Ok(ours())
    );

    let report =
        twilio::parse_status(&twilio_form(TWILIO_DELIVERED), Some(ids), at(RECEIVED)).unwrap();
    assert_eq!(report.channel, Channel::Sms);
    assert_eq!(report.provider_id, "SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c");
    assert_eq!(report.ours, Some(ours()));
    assert_eq!(report.status, DeliveryStatus::Delivered);
    assert_eq!(report.error, None);
    assert_eq!(report.at, at(RECEIVED));
    assert_eq!(report.suppresses, None);
    assert_eq!(
        report.dedupe,
        "twilio#SM5f1d3b0a2c7e4f6a8b9c0d1e2f3a4b5c#delivered"
    );
}

#[test]
fn a_failed_twilio_status_keeps_its_error_code() {
    let raw = "MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003&AccountSid=AC1";
    let report = twilio::parse_status(&twilio_form(raw), None, at(RECEIVED)).unwrap();
    assert_eq!(report.status, DeliveryStatus::Undelivered);
    assert_eq!(report.error.as_deref(), Some("30003"));
    assert_eq!(report.ours, None);
    assert_eq!(report.dedupe, "twilio#SM1#undelivered");

    let raw = "MessageSid=SM1&MessageStatus=failed&ErrorCode=21610";
    let report = twilio::parse_status(&twilio_form(raw), None, at(RECEIVED)).unwrap();
    assert_eq!(
        (report.status, report.error.as_deref()),
        (DeliveryStatus::Failed, Some("21610"))
    );
}

#[test]
fn each_twilio_status_has_its_delivery_status() {
    let expected = [
        ("queued", Some(DeliveryStatus::Queued)),
        ("accepted", Some(DeliveryStatus::Queued)),
        ("scheduled", Some(DeliveryStatus::Queued)),
        ("sending", Some(DeliveryStatus::Queued)),
        ("sent", Some(DeliveryStatus::Sent)),
        ("partially_delivered", Some(DeliveryStatus::Sent)),
        ("delivered", Some(DeliveryStatus::Delivered)),
        ("read", Some(DeliveryStatus::Read)),
        ("undelivered", Some(DeliveryStatus::Undelivered)),
        ("failed", Some(DeliveryStatus::Failed)),
        ("canceled", Some(DeliveryStatus::Failed)),
        ("received", None),
        ("receiving", None),
        ("teleported", None),
    ];
    for (status, delivery) in expected {
        assert_eq!(twilio::delivery_status(status), delivery, "{status}");
    }
}

#[test]
fn a_bad_twilio_status_callback_says_what_is_wrong() {
    let parse = |raw: &str| twilio::parse_status(&twilio_form(raw), None, at(RECEIVED));
    assert_eq!(
        parse("MessageSid=SM1&SmsStatus=received"),
        Err(ParseError::Unsupported(
            r#"the message status "received""#.into()
        ))
    );
    assert_eq!(
        parse("MessageSid=SM1&From=%2B14155550100"),
        Err(ParseError::Missing("MessageStatus"))
    );
    assert_eq!(
        parse("MessageStatus=sent"),
        Err(ParseError::Missing("MessageSid"))
    );

    let ids = |query: &str| twilio::parse_status_callback_query(query);
    assert_eq!(
        ids("tenant=acme&lead=ld_aaaaaaaaaaaaaaaaaaaaaaaa"),
        Err(ParseError::Missing("message"))
    );
    assert_eq!(
        ids("tenant=ACME&lead=ld_aaaaaaaaaaaaaaaaaaaaaaaa&message=msg_bbbbbbbbbbbbbbbbbbbbbbbb"),
        Err(ParseError::Invalid {
            field: "tenant",
            expected: "a tenant id"
        })
    );
    assert_eq!(
        ids("tenant=acme&lead=%2B14155550199&message=msg_bbbbbbbbbbbbbbbbbbbbbbbb"),
        Err(ParseError::Invalid {
            field: "lead",
            expected: "a lead id"
        })
    );
    assert_eq!(ids(""), Err(ParseError::Missing("tenant")));
}

// --- SendGrid --------------------------------------------------------------

/// Our custom_args, as SendGrid adds them to each event.
const OURS: &str = r#""leadline_tenant":"acme","leadline_lead":"ld_aaaaaaaaaaaaaaaaaaaaaaaa","leadline_message":"msg_bbbbbbbbbbbbbbbbbbbbbbbb""#;
const SG_ID: &str = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000";

fn event(fields: &str, timestamp: i64) -> String {
    format!(
        r#"{{"email":"ana@example.com","timestamp":{timestamp},"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",{fields},"sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","sg_message_id":"{SG_ID}",{OURS}}}"#
    )
}

#[test]
fn sendgrid_events_become_reports() {
    let events = [
        event(
            r#""event":"processed","category":["reminder","acme"]"#,
            1_795_530_590,
        ),
        event(
            r#""event":"deferred","category":"reminder","response":"400 try again later","attempt":"5""#,
            1_795_530_591,
        ),
        event(
            r#""event":"delivered","category":"reminder","response":"250 OK""#,
            1_795_530_592,
        ),
        event(
            r#""event":"open","category":"reminder","useragent":"Mozilla/5.0","ip":"255.255.255.255","sg_machine_open":false"#,
            1_795_530_593,
        ),
        event(
            r#""event":"click","url":"https://acme.example/confirm","url_offset":{"index":0,"type":"html"}"#,
            1_795_530_594,
        ),
        event(r#""event":"spamreport""#, 1_795_530_595),
        event(r#""event":"unsubscribe""#, 1_795_530_596),
        event(
            r#""event":"group_unsubscribe","asm_group_id":10"#,
            1_795_530_597,
        ),
        event(
            r#""event":"group_resubscribe","asm_group_id":10"#,
            1_795_530_598,
        ),
    ];
    let body = format!("[{}]", events.join(","));
    let batch = sendgrid::parse_events(body.as_bytes()).unwrap();
    let seen: Vec<_> = batch
        .reports
        .iter()
        .map(|r| (r.status, r.suppresses.as_deref(), r.dedupe.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                DeliveryStatus::Queued,
                None,
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#processed#1795530590"
            ),
            (
                DeliveryStatus::Delivered,
                None,
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#delivered#1795530592"
            ),
            (
                DeliveryStatus::Read,
                None,
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#open#1795530593"
            ),
            (
                DeliveryStatus::Read,
                None,
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#click#1795530594"
            ),
            (
                DeliveryStatus::Delivered,
                Some("spamreport"),
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#spamreport#1795530595"
            ),
            (
                DeliveryStatus::Delivered,
                Some("unsubscribe"),
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#unsubscribe#1795530596"
            ),
            (
                DeliveryStatus::Delivered,
                Some("group_unsubscribe"),
                "sendgrid#msg_bbbbbbbbbbbbbbbbbbbbbbbb#group_unsubscribe#1795530597"
            ),
        ]
    );
    let first = &batch.reports[0];
    assert_eq!(first.channel, Channel::Email);
    assert_eq!(first.provider_id, "14c5d75ce93");
    assert_eq!(first.ours, Some(ours()));
    assert_eq!(first.at, at(1_795_530_590));
    assert_eq!(first.error, None);
    let skipped: Vec<_> = batch.skipped.iter().map(|s| &s.reason).collect();
    assert_eq!(
        skipped,
        [
            &SkipReason::Ignored(r#"the event "deferred""#.into()),
            &SkipReason::Ignored(r#"the event "group_resubscribe""#.into()),
        ]
    );
}

#[test]
fn sendgrid_failures_keep_their_status_and_suppress_when_final() {
    let events = [
        event(
            r#""event":"bounce","category":"reminder","reason":"550 5.1.1 The email account that you tried to reach does not exist: ana@example.com","status":"5.1.1","type":"bounce""#,
            1_795_530_600,
        ),
        event(
            r#""event":"bounce","reason":"550 5.7.1 blocked by policy","status":"5.7.1","type":"blocked""#,
            1_795_530_601,
        ),
        event(
            r#""event":"dropped","reason":"Bounced Address""#,
            1_795_530_602,
        ),
    ];
    let body = format!("[{}]", events.join(","));
    let batch = sendgrid::parse_events(body.as_bytes()).unwrap();
    let seen: Vec<_> = batch
        .reports
        .iter()
        .map(|r| (r.status, r.suppresses.as_deref(), r.error.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (DeliveryStatus::Failed, Some("bounce"), Some("5.1.1")),
            (DeliveryStatus::Failed, None, Some("5.7.1")),
            (
                DeliveryStatus::Failed,
                Some("dropped"),
                Some("Bounced Address")
            ),
        ]
    );
    assert!(batch.skipped.is_empty());
}

#[test]
fn sendgrid_events_without_our_ids_are_skipped_as_not_ours() {
    let body = format!(
        r#"[{{"email":"bob@example.com","timestamp":1795530600,"event":"delivered","category":"newsletter","sg_message_id":"{SG_ID}"}},
            {{"email":"bob@example.com","timestamp":1795530600,"event":"delivered","leadline_tenant":"acme","leadline_lead":"ld_x","leadline_message":"msg_bbbbbbbbbbbbbbbbbbbbbbbb"}},
            {{"email":"ana@example.com","event":"delivered",{OURS}}},
            {{"email":"ana@example.com","timestamp":1795530600,"event":"machine_opened",{OURS}}},
            {{"email":"ana@example.com","timestamp":1795530600,{OURS}}},
            "not an object"]"#
    );
    let batch = sendgrid::parse_events(body.as_bytes()).unwrap();
    assert!(batch.reports.is_empty());
    let skipped: Vec<_> = batch
        .skipped
        .iter()
        .map(|s| (s.provider_id.as_deref(), &s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("14c5d75ce93"), &SkipReason::NotOurs),
            (None, &SkipReason::NotOurs),
            (None, &SkipReason::Malformed("timestamp")),
            (
                None,
                &SkipReason::Ignored(r#"the event "machine_opened""#.into())
            ),
            (None, &SkipReason::Malformed("event")),
            (
                None,
                &SkipReason::Malformed("an event that is not an object")
            ),
        ]
    );
}

#[test]
fn a_sendgrid_body_that_is_not_an_array_is_an_error() {
    assert_eq!(sendgrid::parse_events(b"[]").unwrap().reports, []);
    for body in [
        &br#"{"event":"delivered"}"#[..],
        b"\"ana@example.com\"",
        b"[{\"event\":",
        b"",
    ] {
        let error = sendgrid::parse_events(body).unwrap_err();
        assert!(matches!(error, ParseError::Malformed(_)), "{error:?}");
        no_personal_data(&error);
    }
}

// --- WhatsApp --------------------------------------------------------------

fn envelope(values: &[&str]) -> String {
    let changes: Vec<String> = values
        .iter()
        .map(|value| format!(r#"{{"value":{value},"field":"messages"}}"#))
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{}]}}]}}"#,
        changes.join(",")
    )
}

const METADATA: &str = r#""messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}"#;

fn value(rest: &str) -> String {
    format!("{{{METADATA},{rest}}}")
}

#[test]
fn a_whatsapp_text_message_is_read() {
    let body = envelope(&[&value(
        r#""contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
           "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]"#,
    )]);
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    assert!(notification.statuses.is_empty() && notification.skipped.is_empty());
    let [inbound] = notification.inbound.as_slice() else {
        panic!("{notification:?}")
    };
    assert_eq!(inbound.channel, Channel::Whatsapp);
    assert_eq!(
        inbound.provider_id,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
    assert_eq!(inbound.from, phone("+16505551234"));
    assert_eq!(
        inbound.to,
        InboundAddress::WhatsappNumber("106540352242922".into())
    );
    assert_eq!(inbound.body, "Does it come in another color?");
    assert_eq!(inbound.button, None);
    assert_eq!(inbound.opt_out_type, None);
    assert_eq!(inbound.at, at(1_749_416_383));
    assert_eq!(
        inbound.extra.get("profile_name").map(String::as_str),
        Some("Sheena Nelson")
    );
    assert_eq!(inbound.extra.get("type").map(String::as_str), Some("text"));
}

#[test]
fn a_whatsapp_button_press_carries_its_payload() {
    let body = envelope(&[&value(
        r#""contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
           "messages":[{"context":{"from":"15550783881","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"},
                        "from":"16505551234","id":"wamid.BUTTON","timestamp":"1750032473","type":"button",
                        "button":{"payload":"CONFIRM:apt_aaaaaaaaaaaaaaaaaaaaaaaa","text":"Confirm"}},
                       {"context":{"from":"15550783881","id":"wamid.SESSION"},"from":"16505551234","id":"wamid.REPLY","timestamp":"1750032474","type":"interactive",
                        "interactive":{"type":"button_reply","button_reply":{"id":"CANCEL:apt_aaaaaaaaaaaaaaaaaaaaaaaa","title":"Cancel"}}},
                       {"from":"16505551234","id":"wamid.LIST","timestamp":"1750032475","type":"interactive",
                        "interactive":{"type":"list_reply","list_reply":{"id":"slot-2","title":"Wed 11:00","description":"45 min"}}}]"#,
    )]);
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    let read: Vec<_> = notification
        .inbound
        .iter()
        .map(|m| (m.provider_id.as_str(), m.body.as_str(), m.button.as_deref()))
        .collect();
    assert_eq!(
        read,
        [
            (
                "wamid.BUTTON",
                "Confirm",
                Some("CONFIRM:apt_aaaaaaaaaaaaaaaaaaaaaaaa")
            ),
            (
                "wamid.REPLY",
                "Cancel",
                Some("CANCEL:apt_aaaaaaaaaaaaaaaaaaaaaaaa")
            ),
            ("wamid.LIST", "Wed 11:00", Some("slot-2")),
        ]
    );
    assert_eq!(
        notification.inbound[0]
            .extra
            .get("context_id")
            .map(String::as_str),
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA")
    );
}

#[test]
fn whatsapp_statuses_become_reports() {
    let body = envelope(&[&value(
        r#""statuses":[
            {"id":"wamid.OUT","status":"sent","timestamp":"1750263771","recipient_id":"16505551234",
             "conversation":{"id":"c1","expiration_timestamp":"1750350171","origin":{"type":"utility"}},
             "pricing":{"billable":true,"pricing_model":"PMP","category":"utility","type":"regular"}},
            {"id":"wamid.OUT","status":"delivered","timestamp":"1750263772","recipient_id":"16505551234"},
            {"id":"wamid.OUT","status":"read","timestamp":"1750263773","recipient_id":"16505551234"},
            {"id":"wamid.OTHER","status":"failed","timestamp":"1750263774","recipient_id":"16505551234",
             "errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message Undeliverable."}}]},
            {"id":"wamid.OTHER","status":"deleted","timestamp":"1750263775","recipient_id":"16505551234"}]"#,
    )]);
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    let seen: Vec<_> = notification
        .statuses
        .iter()
        .map(|r| (r.status, r.error.as_deref(), r.dedupe.as_str(), r.at))
        .collect();
    assert_eq!(
        seen,
        [
            (
                DeliveryStatus::Sent,
                None,
                "whatsapp#wamid.OUT#sent",
                at(1_750_263_771)
            ),
            (
                DeliveryStatus::Delivered,
                None,
                "whatsapp#wamid.OUT#delivered",
                at(1_750_263_772)
            ),
            (
                DeliveryStatus::Read,
                None,
                "whatsapp#wamid.OUT#read",
                at(1_750_263_773)
            ),
            (
                DeliveryStatus::Failed,
                Some("131026"),
                "whatsapp#wamid.OTHER#failed",
                at(1_750_263_774)
            ),
        ]
    );
    assert!(
        notification
            .statuses
            .iter()
            .all(|r| r.ours.is_none() && r.channel == Channel::Whatsapp && r.suppresses.is_none())
    );
    assert_eq!(notification.statuses[3].provider_id, "wamid.OTHER");
    assert_eq!(
        notification.skipped[0].reason,
        SkipReason::Ignored(r#"the status "deleted""#.into())
    );
}

#[test]
fn a_batched_whatsapp_delivery_yields_every_item() {
    let first = value(
        r#""contacts":[{"profile":{"name":"A"},"wa_id":"16505551234"},{"profile":{"name":"B"},"wa_id":"447911123456"}],
           "messages":[{"from":"16505551234","id":"wamid.1","timestamp":"1750000001","type":"text","text":{"body":"C"}},
                       {"from":"447911123456","id":"wamid.2","timestamp":"1750000002","type":"text","text":{"body":"X"}}],
           "statuses":[{"id":"wamid.S1","status":"delivered","timestamp":"1750000003","recipient_id":"16505551234"}]"#,
    );
    let second = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"999000111222333"},
           "messages":[{"from":"16505551234","id":"wamid.3","timestamp":"1750000004","type":"text","text":{"body":"9"}}]}"#;
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[
            {{"id":"1","changes":[{{"value":{first},"field":"messages"}},{{"value":{{"event":"APPROVED","message_template_id":1}},"field":"message_template_status_update"}}]}},
            {{"id":"2","changes":[{{"value":{second},"field":"messages"}}]}}]}}"#
    );
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    let inbound: Vec<_> = notification
        .inbound
        .iter()
        .map(|m| {
            (
                m.provider_id.as_str(),
                m.from.e164(),
                &m.to,
                m.extra.get("profile_name").cloned(),
            )
        })
        .collect();
    let number = |id: &str| InboundAddress::WhatsappNumber(id.into());
    assert_eq!(
        inbound,
        [
            (
                "wamid.1",
                "+16505551234",
                &number("106540352242922"),
                Some("A".into())
            ),
            (
                "wamid.2",
                "+447911123456",
                &number("106540352242922"),
                Some("B".into())
            ),
            ("wamid.3", "+16505551234", &number("999000111222333"), None),
        ]
    );
    assert_eq!(notification.statuses.len(), 1);
    assert_eq!(
        notification
            .skipped
            .iter()
            .map(|s| &s.reason)
            .collect::<Vec<_>>(),
        [&SkipReason::Ignored(
            r#"the change field "message_template_status_update""#.into()
        )]
    );
}

#[test]
fn whatsapp_messages_without_a_phone_number_or_of_other_types_are_skipped() {
    let body = envelope(&[&value(
        r#""contacts":[{"profile":{"name":"Sheena Nelson","username":"@realsheenanelson"},"user_id":"US.13491208655302741918"}],
           "messages":[
             {"from":"US.13491208655302741918","from_user_id":"US.13491208655302741918","id":"wamid.BSUID","timestamp":"1750000001","type":"text","text":{"body":"hi"}},
             {"from":"16505551234","id":"wamid.IMAGE","timestamp":"1750000002","type":"image","image":{"mime_type":"image/jpeg","sha256":"abc","id":"123"}},
             {"from":"16505551234","id":"wamid.REACTION","timestamp":"1750000003","type":"reaction","reaction":{"message_id":"wamid.OUT","emoji":"👍"}},
             {"from":"16505551234","id":"wamid.FLOW","timestamp":"1750000004","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{}"}}},
             {"from":"16505551234","timestamp":"1750000005","type":"text","text":{"body":"no id"}},
             {"from":"16505551234","id":"wamid.NOTIME","type":"text","text":{"body":"no time"}}]"#,
    )]);
    let notification = whatsapp::parse_webhook(body.as_bytes()).unwrap();
    assert!(
        notification.inbound.is_empty(),
        "{:?}",
        notification.inbound
    );
    let skipped: Vec<_> = notification
        .skipped
        .iter()
        .map(|s| (s.provider_id.as_deref(), &s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("wamid.BSUID"), &SkipReason::NoPhoneNumber),
            (
                Some("wamid.IMAGE"),
                &SkipReason::UnsupportedType("image".into())
            ),
            (
                Some("wamid.REACTION"),
                &SkipReason::UnsupportedType("reaction".into())
            ),
            (
                Some("wamid.FLOW"),
                &SkipReason::UnsupportedType("interactive nfm_reply".into())
            ),
            (None, &SkipReason::Malformed("id")),
            (Some("wamid.NOTIME"), &SkipReason::Malformed("timestamp")),
        ]
    );
}

#[test]
fn a_bad_whatsapp_envelope_says_what_is_wrong() {
    let cases: [(&[u8], ParseError); 3] = [
        (
            br#"{"object":"page","entry":[]}"#,
            ParseError::Unsupported(r#"webhooks of the object "page""#.into()),
        ),
        (br#"{"entry":[]}"#, ParseError::Missing("object")),
        (
            br#"{"object":"whatsapp_business_account"}"#,
            ParseError::Missing("entry"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(whatsapp::parse_webhook(body), Err(expected));
    }
    for body in [&b"not json"[..], b"", br#"["+14155550199"]"#] {
        let error = whatsapp::parse_webhook(body).unwrap_err();
        no_personal_data(&error);
    }
    assert_eq!(
        whatsapp::parse_webhook(br#"{"object":"whatsapp_business_account","entry":[]}"#),
        Ok(whatsapp::Notification::default())
    );
}
