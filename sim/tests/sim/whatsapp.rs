//! The simulated WhatsApp Cloud API: validation, the 24-hour window,
//! templates, users not on WhatsApp, signed statuses and replies.

use axum::http::StatusCode;
use leadline_sim::{Channel, InboundWhatsapp, LeadScript, MessageFilter, ScriptedReply};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn a_send_is_checked_like_meta() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let url = format!("{}/v21.0/{PHONE_NUMBER_ID}/messages", sim.url());
    let (status, body) = post(&url, Some("wrong"), &whatsapp_template("14155550701")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 190);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());

    let mut no_product = whatsapp_template("14155550701");
    no_product
        .as_object_mut()
        .unwrap()
        .remove("messaging_product");
    let mut no_language = whatsapp_template("14155550701");
    no_language["template"]
        .as_object_mut()
        .unwrap()
        .remove("language");
    let mut bad_button = whatsapp_template("14155550701");
    bad_button["template"]["components"][1]["parameters"][0] = json!({"type": "text", "text": "x"});
    let mut no_to = whatsapp_text("14155550701", "hi");
    no_to.as_object_mut().unwrap().remove("to");
    for body in [
        no_product,
        no_language,
        bad_button,
        no_to,
        whatsapp_text("12", "hi"),
        json!({"messaging_product": "whatsapp", "to": "14155550701", "type": "text", "text": {}}),
        json!({"messaging_product": "whatsapp", "to": "14155550701", "type": "sticker"}),
    ] {
        let answer = send_whatsapp(&sim, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let error = &answer.json["error"];
        assert_eq!(error["code"], 100, "{body}: {error}");
        assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
        assert!(error["error_data"]["details"].is_string(), "{error}");
    }
    let requests = sim
        .control()
        .messaging_requests(&MessageFilter::channel(Channel::Whatsapp));
    assert_eq!(requests.len(), 8);
    assert!(requests.iter().all(|r| !r.accepted));
}

#[tokio::test]
async fn text_needs_the_window_a_template_does_not() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let user = "+14155550711";

    let refused = send_whatsapp(&sim, &whatsapp_text("14155550711", "Hi Ada")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json["error"]["code"], 131047, "{}", refused.json);
    assert_eq!(
        refused.json["error"]["message"],
        "(#131047) Re-engagement message"
    );

    let template = send_whatsapp(&sim, &whatsapp_template("14155550711")).await;
    assert_eq!(template.status, StatusCode::OK, "{}", template.json);
    assert_eq!(template.json["messaging_product"], "whatsapp");
    assert_eq!(
        template.json["contacts"],
        json!([{"input": "14155550711", "wa_id": "14155550711"}])
    );
    let wamid = template.json["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."), "{wamid}");

    // The user writes: the window opens, and the message reaches the backend.
    let inbound = InboundWhatsapp {
        display_phone_number: Some("15550783881".into()),
        ..InboundWhatsapp::text(user, PHONE_NUMBER_ID, "Can I come at 11?")
    };
    let id = sim.control().whatsapp_inbound(inbound).unwrap();
    let hit = receiver
        .wait_for_path("/whatsapp", 1)
        .await
        .into_iter()
        .find(|h| h.json["entry"][0]["changes"][0]["value"]["messages"].is_array())
        .unwrap();
    assert_whatsapp_signed(&hit);
    assert_eq!(hit.json["object"], "whatsapp_business_account");
    let change = &hit.json["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    let value = &change["value"];
    assert_eq!(
        value["metadata"],
        json!({"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID})
    );
    assert_eq!(value["contacts"][0]["wa_id"], "14155550711");
    let message = &value["messages"][0];
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["from"], "14155550711");
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"]["body"], "Can I come at 11?");
    assert!(
        message["timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );

    let text = send_whatsapp(&sim, &whatsapp_text("+14155550711", "Yes, 11 works")).await;
    assert_eq!(text.status, StatusCode::OK, "{}", text.json);

    // 25 hours later (on the callback clock) the window is closed again.
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(25);
    sim.control()
        .set_whatsapp_window(PHONE_NUMBER_ID, user, Some(long_ago))
        .unwrap();
    let closed = send_whatsapp(&sim, &whatsapp_text("14155550711", "Still there?")).await;
    assert_eq!(closed.json["error"]["code"], 131047);

    let messages = sim.control().messages(&MessageFilter::to(user));
    let outbound: Vec<_> = messages
        .iter()
        .filter(|m| m.direction == leadline_sim::Direction::Outbound)
        .collect();
    assert_eq!(outbound.len(), 2);
    let recorded = outbound[0].template.as_ref().unwrap();
    assert_eq!(recorded.name, "appt_reminder");
    assert_eq!(recorded.language, "en_US");
    assert_eq!(recorded.parameters, ["Tue 10:00"]);
    assert_eq!(
        recorded.buttons[1].payload.as_deref(),
        Some("CANCEL:appt_1")
    );
    assert_eq!(outbound[1].body.as_deref(), Some("Yes, 11 works"));
}

#[tokio::test]
async fn users_not_on_whatsapp_and_unapproved_templates_are_refused() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let mut script = LeadScript::new("+14155550721");
    script.not_on_whatsapp = true;
    sim.control().set_lead_script(script).unwrap();
    let answer = send_whatsapp(&sim, &whatsapp_template("14155550721")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"]["code"], 131026, "{}", answer.json);

    sim.control()
        .set_whatsapp_templates(Some(vec!["appt_confirm".into()]));
    let answer = send_whatsapp(&sim, &whatsapp_template("14155550722")).await;
    assert_eq!(answer.json["error"]["code"], 132001, "{}", answer.json);
    let mut approved = whatsapp_template("14155550722");
    approved["template"]["name"] = json!("appt_confirm");
    assert_eq!(send_whatsapp(&sim, &approved).await.status, StatusCode::OK);
    sim.control().set_whatsapp_templates(None);
    assert_eq!(
        send_whatsapp(&sim, &whatsapp_template("14155550722"))
            .await
            .status,
        StatusCode::OK
    );
}

fn statuses(receiver: &Receiver, wamid: &str) -> Vec<Value> {
    receiver
        .hits_to("/whatsapp")
        .iter()
        .flat_map(|h| {
            h.json["entry"][0]["changes"][0]["value"]["statuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|s| s["id"] == wamid)
        .collect()
}

#[tokio::test]
async fn statuses_are_played_and_a_button_reply_answers_the_template() {
    let receiver = Receiver::start().await;
    let sim = start_messaging_sim(&receiver).await;
    let user = "+14155550731";
    let reply = ScriptedReply::button("CONFIRM:appt_1").after_ms(100);
    sim.control()
        .set_lead_script(LeadScript::new(user).reply(reply))
        .unwrap();
    let mut failing = LeadScript::new("+14155550732");
    failing.undeliverable = true;
    sim.control().set_lead_script(failing).unwrap();

    let answer = send_whatsapp(&sim, &whatsapp_template("14155550731")).await;
    let wamid = answer.json["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = send_whatsapp(&sim, &whatsapp_template("14155550732")).await;
    let failed_id = failed.json["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.wait_for_path("/whatsapp", 5).await;
    eventually("three statuses", || {
        (statuses(&receiver, &wamid).len() == 3).then_some(())
    })
    .await;
    for hit in receiver.hits_to("/whatsapp") {
        assert_whatsapp_signed(&hit);
    }
    let played = statuses(&receiver, &wamid);
    let names: Vec<&str> = played
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    assert_eq!(played[0]["recipient_id"], "14155550731");
    assert!(played[0]["timestamp"].is_string());
    assert_eq!(played[0]["pricing"]["category"], "utility");
    let failed = statuses(&receiver, &failed_id);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(failed[0]["errors"][0]["code"], 131026);
    assert!(failed[0]["errors"][0]["error_data"]["details"].is_string());

    let reply = eventually("the button reply", || {
        receiver.hits_to("/whatsapp").into_iter().find_map(|h| {
            let message = &h.json["entry"][0]["changes"][0]["value"]["messages"][0];
            (message["type"] == "button").then(|| message.clone())
        })
    })
    .await;
    assert_eq!(reply["button"]["payload"], "CONFIRM:appt_1");
    assert_eq!(reply["context"]["id"], wamid.as_str());
    assert_eq!(reply["from"], "14155550731");
    // The reply opened the window: text goes now.
    let text = send_whatsapp(&sim, &whatsapp_text("14155550731", "Confirmed, see you")).await;
    assert_eq!(text.status, StatusCode::OK, "{}", text.json);
    let message = &sim.control().messages(&MessageFilter::id(&wamid))[0];
    let timeline: Vec<&str> = message.timeline.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(timeline, ["accepted", "sent", "delivered", "read"]);
}
