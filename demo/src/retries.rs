//! The retry part of the demo, on the demo clock (an hour passes in a few
//! seconds): a mortgage broker in New York calls six leads whose phones
//! behave differently. Unanswered calls are retried after 1 h, 4 h and 24 h
//! inside 09:00-19:00 New York time; a lead asks to be called back "tomorrow
//! at 3pm"; one call never ends until the sweep asks the provider about it.
//! The report shows each lead's calls, in its own time, and why it stopped.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use leadline_aws::ScaledClock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Api;
use crate::calling::Sim;

/// Name, number, WhatsApp, email, and how the phone behaves on each call
/// (the last script repeats).
struct Lead {
    name: &'static str,
    phone: &'static str,
    whatsapp: &'static str,
    email: &'static str,
    scripts: &'static [&'static str],
}

const LEADS: &[Lead] = &[
    Lead {
        name: "Nora Quinn",
        phone: "+44 7400 310001",
        whatsapp: "",
        email: "nora@example.com",
        scripts: &[r#"{"outcome": "no_answer", "ring_seconds": 30}"#],
    },
    Lead {
        name: "Wade Okafor",
        phone: "+44 7400 310002",
        whatsapp: "+44 7400 310092",
        email: "",
        scripts: &[
            r#"{"outcome": "voicemail"}"#,
            r#"{"outcome": "no_answer", "ring_seconds": 30}"#,
        ],
    },
    Lead {
        name: "Bea Marsh",
        phone: "+44 7400 310003",
        whatsapp: "",
        email: "",
        scripts: &[
            r#"{"outcome": "busy"}"#,
            r#"{"outcome": "appointment_set", "talk_seconds": 120}"#,
        ],
    },
    Lead {
        name: "Cal Rivera",
        phone: "+44 7400 310004",
        whatsapp: "",
        email: "cal@example.com",
        scripts: &[
            r#"{"outcome": "callback_requested", "talk_seconds": 60, "callback_phrase": "tomorrow at 3pm"}"#,
            r#"{"outcome": "qualified", "talk_seconds": 150}"#,
        ],
    },
    Lead {
        name: "Ivy Chen",
        phone: "+44 7400 310005",
        whatsapp: "",
        email: "",
        scripts: &[r#"{"outcome": "invalid_number"}"#],
    },
    Lead {
        name: "Opal Stone",
        phone: "+44 7400 310007",
        whatsapp: "",
        email: "opal@example.com",
        scripts: &[r#"{"outcome": "no_answer", "ring_seconds": 30}"#],
    },
    Lead {
        name: "Stan Petrov",
        phone: "+44 7400 310006",
        whatsapp: "",
        email: "",
        scripts: &[
            r#"{"outcome": "qualified", "stuck": true}"#,
            r#"{"outcome": "not_interested", "talk_seconds": 40}"#,
        ],
    },
];

fn e164(phone: &str) -> String {
    phone.replace(' ', "")
}

/// The deployment's clock, as `make demo` set it.
pub fn demo_clock() -> ScaledClock {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let scale: f64 = var("LEADLINE_CLOCK_SCALE").parse().unwrap_or(1.0);
    let origin = |name: &str| var(name).parse::<Timestamp>().ok();
    match (
        origin("LEADLINE_CLOCK_REAL_ORIGIN"),
        origin("LEADLINE_CLOCK_VIRTUAL_ORIGIN"),
    ) {
        (Some(real), Some(virtual_origin)) if scale > 1.0 => {
            ScaledClock::new(real, virtual_origin, scale).unwrap_or(ScaledClock::REAL)
        }
        _ => ScaledClock::REAL,
    }
}

pub async fn run(api: &Api, sim: &Sim, admin: &str, report: &mut Vec<String>) {
    let clock = demo_clock();
    let slug = format!("demo-harbor-{}", std::process::id());
    // Its leads are at UK numbers but live in New York (the CSV says so),
    // so only the business's window applies: 09:00-19:00 New York, not Sundays.
    let tenant = json!({
        "name": "Harbor Home Loans", "slug": slug, "timezone": "America/New_York", "default_region": "GB",
        "calling_window": { "start": "09:00", "end": "19:00", "excluded_weekdays": ["sunday"] },
        "voice": { "provider": "retell" }, "max_concurrent_calls": 6
    });
    let (created, key) = api.new_tenant(admin, &tenant).await;
    // Its messaging: SMS from its own number, email, WhatsApp; a follow-up
    // email to a qualified lead and a note to the team.
    let sms_sender = crate::messaging::sender(1);
    let whatsapp_id = format!("10654035{:07}", std::process::id() % 10_000_000);
    crate::messaging::configure(
        api,
        &key,
        &json!({
            "senders": {"sms_number": sms_sender, "email_from": "loans@harbor.test",
                        "email_name": "Harbor Home Loans", "whatsapp_number_id": whatsapp_id},
            "team_email": "team@harbor.test",
            "booking_link": "https://cal.test/harbor",
            "help_text": "Harbor Home Loans, (212) 555-0100.",
            "follow_up_rules": [{"outcomes": ["qualified", "potential"], "channel": "email"}]
        }),
    )
    .await;
    let body = json!({"name": "Refinance follow-up", "pacing": {"max_parallel_calls": 6, "calls_per_second": 5}});
    let campaign_id = api.new_campaign(&key, &body).await;
    let csv: String = std::iter::once("name,phone,whatsapp,email,timezone\n".to_owned())
        .chain(LEADS.iter().map(|l| {
            format!(
                "{},{},{},{},America/New_York\n",
                l.name, l.phone, l.whatsapp, l.email
            )
        }))
        .collect();
    api.expect(
        Method::POST,
        &format!("/v1/campaigns/{campaign_id}/leads:import"),
        &key,
        Some(("text/csv", csv.into_bytes())),
        200,
    )
    .await;
    for lead in LEADS {
        let script: Value = serde_json::from_str(lead.scripts[0]).unwrap();
        let path = format!("/_sim/numbers/{}", e164(lead.phone));
        sim.send(Method::PUT, &path, Some(script)).await;
    }
    let started = Instant::now();
    api.expect(
        Method::POST,
        &format!("/v1/campaigns/{campaign_id}:start"),
        &key,
        None,
        202,
    )
    .await;

    // Each phone behaves as its next script says once a call was placed; the
    // stuck call is swept as the cron would, once it has run past the longest
    // call and its margin (65 min of demo time); until every lead has stopped
    // (or five minutes passed).
    let stuck_after = Duration::from_secs_f64(65.0 * 60.0 / clock.scale() + 3.0);
    let mut calling_since: Option<Instant> = None;
    let mut sweep = Value::Null;
    let mut opal_stopped = false;
    let leads = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leads = crate::calling::all_leads(api, &key, &campaign_id).await;
        for lead in LEADS {
            let placed = sim
                .calls_to(&e164(lead.phone))
                .await
                .iter()
                .filter(|c| c["status"] == 201)
                .count();
            if let Some(next) = lead.scripts.get(placed.min(lead.scripts.len() - 1))
                && placed > 0
            {
                let script: Value = serde_json::from_str(next).unwrap();
                let path = format!("/_sim/numbers/{}", e164(lead.phone));
                sim.send(Method::PUT, &path, Some(script)).await;
            }
        }
        // Opal texts STOP after her first unanswered call, with a retry owed.
        let opal = leads
            .iter()
            .find(|l| l["phone"] == e164(LEADS[5].phone).as_str());
        if !opal_stopped && opal.is_some_and(|l| l["status"] == "retry_pending") {
            crate::messaging::text(sim, &e164(LEADS[5].phone), &sms_sender, "STOP").await;
            opal_stopped = true;
        }
        let stan = leads
            .iter()
            .find(|l| l["phone"] == e164(LEADS[6].phone).as_str());
        if stan.is_some_and(|l| l["status"] == "calling" && l["attempts"] == 1) {
            let since = *calling_since.get_or_insert_with(Instant::now);
            if sweep.is_null() && since.elapsed() > stuck_after {
                let function =
                    std::env::var("LEADLINE_CallRetriesFunctionName").unwrap_or_default();
                sweep = crate::invoke_function(&function, &json!({"kind": "sweep"})).await;
            }
        }
        let stopped = leads.iter().all(|l| {
            !matches!(
                l["status"].as_str(),
                Some("new" | "queued" | "calling" | "retry_pending" | "callback_pending")
            )
        });
        if stopped || started.elapsed() > Duration::from_secs(300) {
            break leads;
        }
    };

    // The messages the stopped leads were sent: until none is on its way.
    crate::messaging::settle(api, &key, Duration::from_secs(120)).await;
    report.push(String::new());
    report.push(format!(
        "retries           {} ({slug}), Retell, 09:00-19:00 New York, closed Sundays; retry after 1 h, 4 h, 24 h",
        created["tenant"]["name"]
    ));
    report.push(format!(
        "  demo clock      {}x: an hour every {:.0} s; MiniStack fires schedules on a 10 s tick, so up to {:.0} min late here (AWS: within a minute)",
        clock.scale(),
        3600.0 / clock.scale(),
        10.0 * clock.scale() / 60.0
    ));
    report.push(format!(
        "  sweep           run once Stan's call had gone 65 min (demo time) with no end: {} stuck call(s) marked failed after asking the provider, {} settled from the provider's record, {} overdue follow-up(s) queued",
        sweep["marked_failed"], sweep["settled_by_provider"], sweep["follow_ups_queued"]
    ));
    for lead in LEADS {
        let Some(stored) = leads
            .iter()
            .find(|l| l["phone"] == e164(lead.phone).as_str())
        else {
            continue;
        };
        let calls: Vec<String> = sim
            .calls_to(&e164(lead.phone))
            .await
            .iter()
            .filter(|c| c["status"] == 201)
            .filter_map(|c| c["received_at"].as_str()?.parse::<Timestamp>().ok())
            .map(|real| {
                clock
                    .to_virtual(real)
                    .in_tz("America/New_York")
                    .map(|z| z.strftime("%a %H:%M").to_string())
                    .unwrap_or_default()
            })
            .collect();
        let id = stored["id"].as_str().unwrap_or_default();
        let messages = crate::messaging::lines(&crate::messaging::of_lead(api, &key, id).await);
        report.push(format!(
            "  {:<13}{:<17}attempts {}  calls (New York time) {}",
            lead.name,
            stored["status"].as_str().unwrap_or("?"),
            stored["attempts"],
            if calls.is_empty() {
                "-".to_owned()
            } else {
                calls.join(", ")
            }
        ));
        if let Some(note) = stored["note"].as_str() {
            report.push(format!("  {:<13}why: {note}", ""));
        }
        if let Some(next) = stored["next_call"].as_object() {
            report.push(format!(
                "  {:<13}owed: {} at {}",
                "", next["kind"], next["at"]
            ));
        }
        for message in &messages {
            report.push(format!("  {:<13}message: {message}", ""));
        }
    }
    report.push(String::new());
    report.push(format!(
        "messaging         Harbor's SMS from {}, email from loans@harbor.test, WhatsApp number id {whatsapp_id}; replies and statuses through the signed webhooks",
        crate::messaging::mask(&sms_sender)
    ));
    crate::messaging::report(api, &key, "Harbor", report).await;
    let opal = &LEADS[5];
    let opal_calls = sim
        .calls_to(&e164(opal.phone))
        .await
        .iter()
        .filter(|c| c["status"] == 201)
        .count();
    report.push(format!(
        "    {} texted STOP with a retry owed: {} call(s) placed in all, no message sent to her",
        opal.name, opal_calls
    ));
}
