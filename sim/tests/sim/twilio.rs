//! The simulated Twilio Messages API: validation, opt-outs, the rate limit,
//! signed status callbacks and inbound SMS.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use leadline_sim::{Channel, Direction, InboundSms, LeadScript, MessageFilter, ScriptedReply};

use crate::common::*;

const FROM: &str = "+14155550100";
const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

/// Credentials, form, and the status and code answered.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, StatusCode, i64);

#[tokio::test]
async fn a_send_is_checked_like_twilio() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let to = "+14155550501";
    let other_sid = "ACffffffffffffffffffffffffffffffff";
    let cases: Vec<Case> = vec![
        (
            TWILIO_SID,
            "wrong",
            vec![("To", to), ("From", FROM), ("Body", "x")],
            StatusCode::UNAUTHORIZED,
            20003,
        ),
        (
            other_sid,
            TWILIO_TOKEN,
            vec![("To", to), ("From", FROM), ("Body", "x")],
            StatusCode::UNAUTHORIZED,
            20003,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("From", FROM), ("Body", "x")],
            StatusCode::BAD_REQUEST,
            21604,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("To", "4155550501"), ("From", FROM), ("Body", "x")],
            StatusCode::BAD_REQUEST,
            21211,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("To", to), ("Body", "x")],
            StatusCode::BAD_REQUEST,
            21603,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("To", to), ("From", "+1"), ("Body", "x")],
            StatusCode::BAD_REQUEST,
            21212,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("To", to), ("MessagingServiceSid", "MG1"), ("Body", "x")],
            StatusCode::BAD_REQUEST,
            21701,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![("To", to), ("From", FROM)],
            StatusCode::BAD_REQUEST,
            21619,
        ),
        (
            TWILIO_SID,
            TWILIO_TOKEN,
            vec![
                ("To", to),
                ("From", FROM),
                ("Body", "x"),
                ("StatusCallback", "ftp://x"),
            ],
            StatusCode::BAD_REQUEST,
            21609,
        ),
    ];
    for (sid, token, params, status, code) in &cases {
        let answer = send_sms_as(&sim, sid, token, params).await;
        assert_eq!(answer.status, *status, "{params:?}: {}", answer.json);
        assert_eq!(answer.json["code"], *code, "{params:?}: {}", answer.json);
        assert_eq!(answer.json["status"], status.as_u16());
        assert!(answer.json["message"].is_string());
    }
    let long = "a".repeat(1601);
    let answer = send_sms(&sim, &[("To", to), ("From", FROM), ("Body", &long)]).await;
    assert_eq!(answer.json["code"], 21617, "{}", answer.json);
    let answer = send_sms(
        &sim,
        &[
            ("To", to),
            ("From", FROM),
            ("MessagingServiceSid", SERVICE),
            ("Body", "x"),
        ],
    )
    .await;
    assert_eq!(
        answer.json["code"], 21603,
        "one sender, not both: {}",
        answer.json
    );

    let answer = send_sms(
        &sim,
        &[
            ("To", to),
            ("From", FROM),
            ("Body", "Hi Ada"),
            ("MediaUrl", "https://x.test/1.png"),
            ("MediaUrl", "https://x.test/2.png"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
    let sid = answer.json["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(answer.json["status"], "queued");
    assert_eq!(answer.json["num_media"], "2");
    assert_eq!(answer.json["num_segments"], "1");
    assert_eq!(answer.json["error_code"], serde_json::Value::Null);
    assert_eq!(answer.json["account_sid"], TWILIO_SID);
    assert_eq!(
        answer.json["uri"],
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json")
    );
    let answer = send_sms(
        &sim,
        &[("To", to), ("MessagingServiceSid", SERVICE), ("Body", "Hi")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
    assert_eq!(answer.json["status"], "accepted");
    assert_eq!(answer.json["messaging_service_sid"], SERVICE);
    assert_eq!(answer.json["from"], serde_json::Value::Null);

    let requests = sim
        .control()
        .messaging_requests(&MessageFilter::to(to).and_channel(Channel::Sms));
    let codes: Vec<Option<i64>> = requests.iter().map(|r| r.error_code).collect();
    // Those without To, or with another, are not the lead's.
    let expected = [
        20003, 20003, 21603, 21212, 21701, 21619, 21609, 21617, 21603,
    ];
    let expected: Vec<Option<i64>> = expected.into_iter().map(Some).chain([None, None]).collect();
    assert_eq!(codes, expected);
    assert_eq!(requests.iter().filter(|r| r.accepted).count(), 2);
    let messages = sim.control().messages(&MessageFilter::to(to));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].media_urls.len(), 2);
    assert_eq!(messages[1].sender, SERVICE);
}

#[tokio::test]
async fn stop_blocks_the_sender_until_start() {
    let receiver = Receiver::start().await;
    receiver.answer_body("/twilio", "text/xml", "<Response></Response>");
    let sim = start_messaging_sim(&receiver).await;
    let lead = "+14155550511";
    sim.control()
        .set_lead_script(LeadScript::new(lead).reply(ScriptedReply::text(" stop ").after_ms(50)))
        .unwrap();
    let answer = send_sms(
        &sim,
        &[
            ("To", lead),
            ("From", FROM),
            ("Body", "Reminder: Tue 10:00"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);

    // The lead's STOP reaches the backend, signed, as any inbound message.
    let hits = receiver.wait_for_path("/twilio", 1).await;
    let params = form_params(&hits[0]);
    assert_eq!(form_value(&params, "Body"), Some(" stop "));
    assert_eq!(form_value(&params, "From"), Some(lead));
    assert_eq!(form_value(&params, "To"), Some(FROM));
    assert_eq!(form_value(&params, "SmsStatus"), Some("received"));
    assert_eq!(form_value(&params, "NumMedia"), Some("0"));
    assert_eq!(form_value(&params, "FromCountry"), Some("US"));
    assert_eq!(form_value(&params, "AccountSid"), Some(TWILIO_SID));
    let sid = form_value(&params, "MessageSid").unwrap();
    assert_eq!(form_value(&params, "SmsSid"), Some(sid));
    assert_eq!(form_value(&params, "SmsMessageSid"), Some(sid));
    let url = format!("{}/twilio", receiver.url);
    assert_eq!(
        hits[0].header("x-twilio-signature"),
        Some(twilio_signature(TWILIO_TOKEN, &url, &params).as_str())
    );

    // Twilio answered the lead itself; that answer is recorded, not posted.
    let messages = sim.control().messages(&MessageFilter::to(lead));
    let directions: Vec<Direction> = messages.iter().map(|m| m.direction).collect();
    assert_eq!(
        directions,
        [
            Direction::Outbound,
            Direction::Inbound,
            Direction::AutoReply
        ]
    );
    assert!(
        messages[2]
            .body
            .as_deref()
            .unwrap()
            .contains("unsubscribed")
    );
    assert!(messages[0].opted_out);

    let blocked = send_sms(
        &sim,
        &[("To", lead), ("From", FROM), ("Body", "Still there?")],
    )
    .await;
    assert_eq!(blocked.status, StatusCode::BAD_REQUEST);
    assert_eq!(blocked.json["code"], 21610);
    assert_eq!(
        blocked.json["message"],
        "Attempt to send to unsubscribed recipient"
    );
    // Another sender is not blocked.
    let other = send_sms(
        &sim,
        &[("To", lead), ("From", "+14155550199"), ("Body", "Hi")],
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED);

    sim.control()
        .twilio_inbound(InboundSms::new(lead, FROM, "START"))
        .unwrap();
    let again = send_sms(
        &sim,
        &[("To", lead), ("From", FROM), ("Body", "Welcome back")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json);

    // The backend's answers to the inbound webhooks are kept.
    let deliveries = eventually("both inbound deliveries", || {
        let inbound: Vec<_> = sim
            .control()
            .messaging_deliveries(&MessageFilter::to(lead))
            .into_iter()
            .filter(|d| d.event == "inbound")
            .collect();
        (inbound.len() == 2).then_some(inbound)
    })
    .await;
    for delivery in deliveries {
        assert_eq!(delivery.status, Some(200));
        assert_eq!(delivery.response_content_type.as_deref(), Some("text/xml"));
        assert_eq!(
            delivery.response_body.as_deref(),
            Some("<Response></Response>")
        );
    }
    let codes: Vec<Option<i64>> = sim
        .control()
        .messaging_requests(&MessageFilter::to(lead))
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, [None, Some(21610), None, None]);
}

#[tokio::test]
async fn a_stop_to_a_service_number_blocks_the_whole_service() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let lead = "+14155550512";
    sim.control()
        .set_twilio_service_number(SERVICE, "+14155550150")
        .unwrap();
    let answer = send_sms(
        &sim,
        &[
            ("To", lead),
            ("MessagingServiceSid", SERVICE),
            ("Body", "Hi"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    sim.control()
        .twilio_inbound(InboundSms::new(lead, "+14155550150", "OPTOUT"))
        .unwrap();
    let hits = receiver.wait_for_path("/twilio", 1).await;
    assert_eq!(
        form_value(&form_params(&hits[0]), "MessagingServiceSid"),
        Some(SERVICE)
    );
    for params in [
        vec![
            ("To", lead),
            ("MessagingServiceSid", SERVICE),
            ("Body", "Hi"),
        ],
        vec![("To", lead), ("From", "+14155550150"), ("Body", "Hi")],
    ] {
        let answer = send_sms(&sim, &params).await;
        assert_eq!(answer.json["code"], 21610, "{params:?}");
    }
    assert_eq!(
        sim.control().twilio_opt_outs(),
        [(lead.to_owned(), SERVICE.to_owned())]
    );
}

#[tokio::test]
async fn a_number_sends_at_most_its_rate() {
    let receiver = Receiver::start().await;
    let sim = leadline_sim::Sim::start(messaging_config(&receiver))
        .await
        .unwrap();
    assert_eq!(sim.control().config().twilio_mps, 1);
    let from = "+14155550520";
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    // 5 a second for 2.5 seconds, against a limit of 1 a second.
    while started.elapsed() < Duration::from_millis(2500) {
        let to = format!("+1415555{:04}", 600 + statuses.len());
        let answer = send_sms(&sim, &[("To", &to), ("From", from), ("Body", "Hi")]).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(answer.json["code"], 20429);
            assert_eq!(answer.json["message"], "Too Many Requests");
            retry_after.push(answer.headers["retry-after"].to_str().unwrap().to_owned());
        }
        statuses.push(answer.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert!((2..=3).contains(&accepted), "{statuses:?}");
    assert!(retry_after.iter().all(|r| r == "1"), "{retry_after:?}");
    let stats = sim
        .control()
        .messaging_stats(&MessageFilter::channel(Channel::Sms));
    let sender = &stats.senders[from];
    assert_eq!(sender.accepted, accepted);
    assert_eq!(sender.rate_limited, statuses.len() - accepted);
    assert_eq!(sender.max_accepted_in_one_second, 1);
    assert!(sender.accepted_per_second.unwrap() <= 1.0, "{sender:?}");
    assert_eq!(stats.rejected_by_code[&20429], sender.rate_limited);
}

#[tokio::test]
async fn status_callbacks_are_signed_over_the_exact_url() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let tenant_sid = "AC00000000000000000000000000000042";
    let tenant_token = "tenant-token";
    sim.control()
        .add_twilio_account(tenant_sid, tenant_token)
        .unwrap();
    let (delivered_to, undelivered_to) = ("+14155550531", "+14155550532");
    let mut script = LeadScript::new(undelivered_to);
    script.undeliverable = true;
    sim.control().set_lead_script(script).unwrap();
    let callback = format!("{}/status?tenant=acme&msg=m%201&msg=m2", receiver.url);
    for to in [delivered_to, undelivered_to] {
        let params = [
            ("To", to),
            ("From", FROM),
            ("Body", "Hi"),
            ("StatusCallback", callback.as_str()),
        ];
        let answer = send_sms_as(&sim, tenant_sid, tenant_token, &params).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
    }
    let hits = receiver.wait_for_path("/status", 4).await;
    let mut seen = Vec::new();
    for hit in &hits {
        assert_eq!(hit.query.as_deref(), Some("tenant=acme&msg=m%201&msg=m2"));
        assert_eq!(
            hit.header("content-type"),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        let params = form_params(hit);
        let expected = twilio_signature(tenant_token, &callback, &params);
        assert_eq!(hit.header("x-twilio-signature"), Some(expected.as_str()));
        assert_ne!(expected, twilio_signature(TWILIO_TOKEN, &callback, &params));
        let status = form_value(&params, "MessageStatus").unwrap().to_owned();
        assert_eq!(form_value(&params, "SmsStatus"), Some(status.as_str()));
        assert_eq!(form_value(&params, "AccountSid"), Some(tenant_sid));
        assert_eq!(form_value(&params, "ApiVersion"), Some("2010-04-01"));
        assert_eq!(form_value(&params, "From"), Some(FROM));
        let dlr = form_value(&params, "RawDlrDoneDate");
        assert_eq!(dlr.is_some(), status != "sent", "{params:?}");
        assert!(dlr.is_none_or(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit())));
        let error = form_value(&params, "ErrorCode").map(str::to_owned);
        seen.push((form_value(&params, "To").unwrap().to_owned(), status, error));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (delivered_to.into(), "delivered".into(), None),
            (delivered_to.into(), "sent".into(), None),
            (undelivered_to.into(), "sent".into(), None),
            (
                undelivered_to.into(),
                "undelivered".into(),
                Some("30003".into())
            ),
        ]
    );
    let message = &sim.control().messages(&MessageFilter::to(undelivered_to))[0];
    let timeline: Vec<&str> = message.timeline.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(timeline, ["queued", "sent", "undelivered"]);
    assert_eq!(message.account.as_deref(), Some(tenant_sid));
}
