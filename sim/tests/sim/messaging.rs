//! Messaging faults (forced answers, after_accept, webhook modes), the
//! control endpoints over HTTP, and the reset.

use std::time::Duration;

use axum::http::StatusCode;
use leadline_sim::{Channel, DeliveryFaults, ForcedResponse, MessageFilter, MessagingFaultRequest};
use serde_json::{Value, json};

use crate::common::*;

const FROM: &str = "+14155550100";

#[tokio::test]
async fn after_accept_answers_the_fault_but_the_message_goes_out() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let (sms_to, email_to, wa_to) = ("+14155550901", "ada.902@example.com", "+14155550903");
    let control = sim.control();
    let fault = |channel, to: &str, forced: ForcedResponse| {
        control
            .apply_messaging_faults(MessagingFaultRequest::new(channel).to(to).send(forced))
            .unwrap()
    };
    fault(
        Channel::Sms,
        sms_to,
        ForcedResponse::status(503).after_accept(),
    );
    fault(
        Channel::Email,
        email_to,
        ForcedResponse::status(500).after_accept(),
    );
    // The answer comes after the client gave up.
    fault(
        Channel::Whatsapp,
        wa_to,
        ForcedResponse::delay_ms(1500).after_accept(),
    );

    let callback = format!("{}/status", receiver.url);
    let sms = send_sms(
        &sim,
        &[
            ("To", sms_to),
            ("From", FROM),
            ("Body", "Hi"),
            ("StatusCallback", &callback),
        ],
    )
    .await;
    assert_eq!(sms.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sms.json["code"], 20503);
    let email = send_mail(&sim, SENDGRID_KEY, &mail(email_to)).await;
    assert_eq!(email.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(email.json["errors"][0]["message"].is_string());
    let url = format!("{}/v21.0/{PHONE_NUMBER_ID}/messages", sim.url());
    let timed_out = client()
        .post(url)
        .bearer_auth(WHATSAPP_TOKEN)
        .json(&whatsapp_template("14155550903"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());

    // Each was accepted all the same, and plays out.
    for to in [sms_to, email_to, wa_to] {
        let requests = control.messaging_requests(&MessageFilter::to(to));
        assert_eq!(requests.len(), 1, "{to}");
        assert!(
            requests[0].accepted && requests[0].forced,
            "{to}: {:?}",
            requests[0]
        );
        assert!(requests[0].message_id.is_some());
        assert_eq!(control.messages(&MessageFilter::to(to)).len(), 1, "{to}");
    }
    assert_eq!(
        control.messaging_requests(&MessageFilter::to(sms_to))[0].status,
        503
    );
    receiver.wait_for_path("/status", 2).await;
    receiver.wait_for_path("/sendgrid", 2).await;
    receiver.wait_for_path("/whatsapp", 3).await;
    // Faults are used up: the next sends go through.
    let again = send_sms(&sim, &[("To", sms_to), ("From", FROM), ("Body", "Hi")]).await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn forced_answers_come_before_the_api_handles_the_send() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let control = sim.control();
    control
        .apply_messaging_faults(
            MessagingFaultRequest::new(Channel::Whatsapp).send(ForcedResponse::status(429)),
        )
        .unwrap();
    control
        .apply_messaging_faults(
            MessagingFaultRequest::new(Channel::Email).send(ForcedResponse::status(503).times(2)),
        )
        .unwrap();
    let limited = send_whatsapp(&sim, &whatsapp_template("14155550911")).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.json["error"]["code"], 130429);
    assert_eq!(
        send_whatsapp(&sim, &whatsapp_template("14155550911"))
            .await
            .status,
        StatusCode::OK
    );
    let statuses = [
        send_mail(&sim, SENDGRID_KEY, &mail("a.912@example.com"))
            .await
            .status,
        send_mail(&sim, SENDGRID_KEY, &mail("a.912@example.com"))
            .await
            .status,
        send_mail(&sim, SENDGRID_KEY, &mail("a.912@example.com"))
            .await
            .status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::ACCEPTED
        ]
    );
    // A forced answer is not a message.
    assert_eq!(
        control
            .messages(&MessageFilter::to("a.912@example.com"))
            .len(),
        1
    );
    let stats = control.messaging_stats(&MessageFilter::channel(Channel::Email));
    assert_eq!(stats.rejected_by_status[&503], 2);
    assert_eq!(stats.accepted, 1);
}

#[tokio::test]
async fn duplicate_delivers_each_webhook_twice() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let to = "+14155550921";
    let duplicate = DeliveryFaults {
        duplicate: true,
        ..DeliveryFaults::default()
    };
    sim.control()
        .apply_messaging_faults(
            MessagingFaultRequest::new(Channel::Sms)
                .to(to)
                .webhooks(duplicate),
        )
        .unwrap();
    let callback = format!("{}/status", receiver.url);
    send_sms(
        &sim,
        &[
            ("To", to),
            ("From", FROM),
            ("Body", "Hi"),
            ("StatusCallback", &callback),
        ],
    )
    .await;
    let hits = receiver.wait_for_path("/status", 4).await;
    let statuses: Vec<String> = hits
        .iter()
        .map(|h| {
            form_value(&form_params(h), "MessageStatus")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, ["sent", "sent", "delivered", "delivered"]);
    for pair in hits.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body);
        assert_eq!(
            pair[0].header("x-twilio-signature"),
            pair[1].header("x-twilio-signature")
        );
        let token = pair[0].header("i-twilio-idempotency-token");
        assert!(token.is_some());
        assert_eq!(token, pair[1].header("i-twilio-idempotency-token"));
    }
    // Inbound messages from that lead come twice too.
    sim.control()
        .twilio_inbound(leadline_sim::InboundSms::new(to, FROM, "C"))
        .unwrap();
    receiver.wait_for_path("/twilio", 2).await;
    let copies: Vec<u8> = sim
        .control()
        .messaging_deliveries(&MessageFilter::to(to))
        .iter()
        .map(|d| d.copy)
        .collect();
    assert_eq!(copies, [1, 2, 1, 2, 1, 2]);
}

#[tokio::test]
async fn reorder_sends_a_messages_statuses_last_first() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let reorder = DeliveryFaults {
        reorder: true,
        ..DeliveryFaults::default()
    };
    for channel in [Channel::Sms, Channel::Whatsapp] {
        sim.control()
            .apply_messaging_faults(MessagingFaultRequest::new(channel).webhooks(reorder))
            .unwrap();
    }
    let callback = format!("{}/status", receiver.url);
    send_sms(
        &sim,
        &[
            ("To", "+14155550931"),
            ("From", FROM),
            ("Body", "Hi"),
            ("StatusCallback", &callback),
        ],
    )
    .await;
    send_whatsapp(&sim, &whatsapp_template("14155550932")).await;
    let sms: Vec<String> = receiver
        .wait_for_path("/status", 2)
        .await
        .iter()
        .map(|h| {
            form_value(&form_params(h), "MessageStatus")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(sms, ["delivered", "sent"]);
    let whatsapp: Vec<Value> = receiver
        .wait_for_path("/whatsapp", 3)
        .await
        .iter()
        .map(|h| h.json["entry"][0]["changes"][0]["value"]["statuses"][0]["status"].clone())
        .collect();
    assert_eq!(whatsapp, [json!("read"), json!("delivered"), json!("sent")]);
}

#[tokio::test]
async fn drop_final_swallows_the_last_status() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let to = "ada.941@example.com";
    let drop_final = DeliveryFaults {
        drop_final: true,
        ..DeliveryFaults::default()
    };
    sim.control()
        .apply_messaging_faults(
            MessagingFaultRequest::new(Channel::Email)
                .to(to)
                .webhooks(drop_final),
        )
        .unwrap();
    send_mail(&sim, SENDGRID_KEY, &mail(to)).await;
    let deliveries = eventually("two delivery records", || {
        let deliveries = sim.control().messaging_deliveries(&MessageFilter::to(to));
        (deliveries.len() == 2).then_some(deliveries)
    })
    .await;
    let results: Vec<_> = deliveries
        .iter()
        .map(|d| (d.event.as_str(), d.result))
        .collect();
    use leadline_sim::DeliveryResult::{Delivered, Dropped};
    assert_eq!(results, [("processed", Delivered), ("delivered", Dropped)]);
    assert_eq!(receiver.hits_to("/sendgrid").len(), 1);
    // The message was delivered all the same.
    assert_eq!(
        sim.control().messages(&MessageFilter::to(to))[0].status,
        "delivered"
    );
}

async fn send(method: reqwest::Method, url: String, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = client().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_control_api_over_http_and_the_reset() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let base = sim.url().to_owned();
    let lead = "+14155550951";
    use reqwest::Method;

    let script =
        json!({"address": lead, "reply": {"text": "STOP", "after_ms": 10, "channel": "sms"}});
    let (status, answer) = send(
        Method::PUT,
        format!("{base}/_sim/messaging/script"),
        Some(script),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["script"]["reply"]["text"], "STOP");
    let (_, answer) = get_json(&format!(
        "{base}/_sim/messaging/script?address=%2B14155550951"
    ))
    .await;
    assert_eq!(answer["script"]["address"], lead);
    for (path, body) in [
        ("/_sim/messaging/script", json!({"address": "12"})),
        (
            "/_sim/messaging/script",
            json!({"address": lead, "reply": {}}),
        ),
        ("/_sim/messaging/faults", json!({"channel": "fax"})),
        (
            "/_sim/messaging/faults",
            json!({"channel": "sms", "send": [{"status": 200}]}),
        ),
        ("/_sim/twilio/accounts", json!({"sid": "AC1", "token": "t"})),
        (
            "/_sim/twilio/inbound",
            json!({"from": "x", "to": FROM, "body": "hi"}),
        ),
        (
            "/_sim/whatsapp/inbound",
            json!({"from": lead, "phone_number_id": PHONE_NUMBER_ID}),
        ),
    ] {
        let method = if path.ends_with("script") || path.ends_with("accounts") {
            Method::PUT
        } else {
            Method::POST
        };
        let (status, answer) = send(method, format!("{base}{path}"), Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert!(answer["error"].is_string());
    }
    let tenant = json!({"sid": "AC00000000000000000000000000000099", "token": "tenant"});
    let (status, _) = send(
        Method::PUT,
        format!("{base}/_sim/twilio/accounts"),
        Some(tenant),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let urls = json!({"twilio": format!("{}/elsewhere", receiver.url)});
    let (_, answer) = send(Method::PUT, format!("{base}/_sim/webhook-urls"), Some(urls)).await;
    assert_eq!(answer["twilio"], format!("{}/elsewhere", receiver.url));
    assert_eq!(answer["whatsapp"], format!("{}/whatsapp", receiver.url));

    send_sms(&sim, &[("To", lead), ("From", FROM), ("Body", "Hi")]).await;
    receiver.wait_for_path("/elsewhere", 1).await;
    let (status, answer) = send(
        Method::POST,
        format!("{base}/_sim/twilio/inbound"),
        Some(json!({"from": lead, "to": FROM, "body": "start"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["sid"].as_str().unwrap().starts_with("SM"));
    let (_, messages) = get_json(&format!(
        "{base}/_sim/messages?to=%2B14155550951&channel=sms"
    ))
    .await;
    let directions: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(
        directions,
        ["outbound", "inbound", "auto_reply", "inbound", "auto_reply"]
    );
    let (_, requests) = get_json(&format!("{base}/_sim/messaging/requests?to={lead}")).await;
    assert_eq!(requests[0]["status"], 201);
    assert_eq!(requests[0]["body"]["Body"], "Hi");
    let (_, deliveries) = get_json(&format!("{base}/_sim/messaging/deliveries?channel=sms")).await;
    assert!(deliveries[0]["headers"]["x-twilio-signature"].is_string());
    let (_, stats) = get_json(&format!("{base}/_sim/messaging/stats?channel=sms")).await;
    assert_eq!(stats["senders"][FROM]["accepted"], 1);
    let (status, _) = get_json(&format!("{base}/_sim/messages?lead=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // STOP, then a reset: the opt-out, the script and the records are gone,
    // the tenant's account stays.
    sim.control()
        .twilio_inbound(leadline_sim::InboundSms::new(lead, FROM, "STOP"))
        .unwrap();
    assert_eq!(
        send_sms(&sim, &[("To", lead), ("From", FROM), ("Body", "Hi")])
            .await
            .json["code"],
        21610
    );
    let (status, _) = send(Method::POST, format!("{base}/_sim/reset"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sim.control().messages(&MessageFilter::default()).is_empty());
    assert!(
        sim.control()
            .messaging_requests(&MessageFilter::default())
            .is_empty()
    );
    assert!(sim.control().lead_script(lead).is_none());
    assert!(sim.control().twilio_opt_outs().is_empty());
    assert!(
        sim.control()
            .twilio_accounts()
            .contains_key("AC00000000000000000000000000000099")
    );
    let answer = send_sms(&sim, &[("To", lead), ("From", FROM), ("Body", "Hi")]).await;
    assert_eq!(answer.status, StatusCode::CREATED);
}
