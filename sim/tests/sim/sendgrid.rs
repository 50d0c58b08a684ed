//! The simulated SendGrid: mail send and the signed Event Webhook.

use axum::http::StatusCode;
use data_encoding::BASE64;
use leadline_sim::{EmailOutcome, LeadScript, MessageFilter};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn mail_send_answers_202_with_a_message_id() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let to = "ada.801@example.com";
    let refused = send_mail(&sim, "SG.wrong", &mail(to)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json,
        json!({"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null, "help": null}]})
    );
    let mut invalid = mail(to);
    invalid.as_object_mut().unwrap().remove("subject");
    invalid["from"]["email"] = json!("not-an-address");
    let refused = send_mail(&sim, SENDGRID_KEY, &invalid).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = refused.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["from.email", "subject"]);
    assert!(refused.json["errors"][0]["message"].is_string());

    let accepted = send_mail(&sim, SENDGRID_KEY, &mail(to)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(accepted.json, Value::Null, "an empty body");
    let id = accepted.headers["x-message-id"].to_str().unwrap();
    assert_eq!(id.len(), 22, "{id}");
    let messages = sim
        .control()
        .messages(&MessageFilter::to("Ada.801@Example.com"));
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, id);
    assert_eq!(messages[0].subject.as_deref(), Some("Your appointment"));
    assert_eq!(messages[0].sender, "noreply@acme.test");
    assert_eq!(messages[0].custom_args["leadline_message"], "msg_1");
    assert_eq!(messages[0].custom_args["leadline_tenant"], "acme");
    let requests = sim.control().messaging_requests(&MessageFilter::to(to));
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 400, 202]);
    assert_eq!(requests[2].message_id.as_deref(), Some(id));
}

/// Verifies the Event Webhook signature with the public key SendGrid shows.
fn assert_sendgrid_signed(hit: &Hit, public_key: &str) {
    let der = BASE64.decode(public_key.as_bytes()).unwrap();
    let key = VerifyingKey::from_public_key_der(&der).unwrap();
    let signature = hit
        .header("x-twilio-email-event-webhook-signature")
        .expect("a signature");
    let signature = Signature::from_der(&BASE64.decode(signature.as_bytes()).unwrap()).unwrap();
    let timestamp = hit
        .header("x-twilio-email-event-webhook-timestamp")
        .expect("a timestamp");
    let now = jiff::Timestamp::now().as_second();
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 60);
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(&hit.body);
    key.verify(&signed, &signature)
        .expect("the signature verifies");
    signed.push(b' ');
    assert!(key.verify(&signed, &signature).is_err());
}

fn events(receiver: &Receiver, email: &str) -> Vec<Value> {
    receiver
        .hits_to("/sendgrid")
        .iter()
        .flat_map(|h| h.json.as_array().cloned().unwrap_or_default())
        .filter(|e| e["email"] == email)
        .collect()
}

#[tokio::test]
async fn events_are_signed_with_the_seeds_public_key() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let to = "ada.811@example.com";
    let (_, shown) = get_json(&format!("{}/_sim/sendgrid/public-key", sim.url())).await;
    let public_key = shown["public_key"].as_str().unwrap().to_owned();
    assert_eq!(
        public_key,
        leadline_sim::sendgrid::public_key(SENDGRID_SEED)
    );
    assert_eq!(public_key, sim.control().sendgrid_public_key());

    let accepted = send_mail(&sim, SENDGRID_KEY, &mail(to)).await;
    let id = accepted.headers["x-message-id"]
        .to_str()
        .unwrap()
        .to_owned();
    receiver.wait_for_path("/sendgrid", 2).await;
    for hit in receiver.hits_to("/sendgrid") {
        assert_eq!(hit.header("content-type"), Some("application/json"));
        assert_sendgrid_signed(&hit, &public_key);
    }
    let events = events(&receiver, to);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["processed", "delivered"]);
    for event in &events {
        let sg_message_id = event["sg_message_id"].as_str().unwrap();
        assert!(
            sg_message_id.starts_with(&format!("{id}.filter")),
            "{sg_message_id}"
        );
        assert!(event["timestamp"].is_i64());
        assert!(event["sg_event_id"].is_string());
        assert!(event["smtp-id"].is_string());
        assert_eq!(event["category"], "reminder");
        // custom_args are top-level fields; the personalization's win.
        assert_eq!(event["leadline_message"], "msg_1");
        assert_eq!(event["leadline_tenant"], "acme");
    }
    assert_ne!(events[0]["sg_event_id"], events[1]["sg_event_id"]);
}

#[tokio::test]
async fn a_bounced_address_is_then_dropped() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let (bounce, blocked) = ("bounce.821@example.com", "blocked.822@example.com");
    for (address, outcome) in [
        (bounce, EmailOutcome::Bounce),
        (blocked, EmailOutcome::Blocked),
    ] {
        let mut script = LeadScript::new(address);
        script.email = Some(outcome);
        sim.control().set_lead_script(script).unwrap();
        send_mail(&sim, SENDGRID_KEY, &mail(address)).await;
    }
    eventually("the bounces", || {
        (events(&receiver, bounce).len() == 2 && events(&receiver, blocked).len() == 2)
            .then_some(())
    })
    .await;
    let bounced = &events(&receiver, bounce)[1];
    assert_eq!(bounced["event"], "bounce");
    assert_eq!(bounced["type"], "bounce");
    assert!(bounced["reason"].is_string() && bounced["status"].is_string());
    let block = &events(&receiver, blocked)[1];
    assert_eq!(
        (&block["event"], &block["type"]),
        (&json!("bounce"), &json!("blocked"))
    );
    assert!(sim.control().messages(&MessageFilter::to(bounce))[0].opted_out);

    send_mail(&sim, SENDGRID_KEY, &mail(bounce)).await;
    eventually("the drop", || {
        (events(&receiver, bounce).len() == 4).then_some(())
    })
    .await;
    let later = events(&receiver, bounce);
    assert_eq!(later[2]["event"], "processed");
    assert_eq!(later[3]["event"], "dropped");
    assert_eq!(later[3]["reason"], "Bounced Address");
}
