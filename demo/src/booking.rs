//! The in-call part of the demo: one shared agent serves two businesses, a
//! dental practice on Retell and a physiotherapist on Vapi, each with its own
//! Cal.com account (simulated). During each call the agent asks for free
//! times and books the nearest; one booking finds its slot taken meanwhile
//! and takes an alternative; one Cal.com request fails and the agent says the
//! fallback while a follow-up task is queued. The report lists the
//! appointments made during calls, as the API answers them.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::Api;
use crate::calling::Sim;

struct Business {
    name: &'static str,
    provider: &'static str,
    service: (&'static str, &'static str, u64),
    /// Which misbehaviour its Cal.com account shows once.
    fault: Value,
    leads: &'static [(&'static str, &'static str, &'static str)],
}

fn businesses() -> [Business; 2] {
    [
        Business {
            name: "Bright Smile Dental",
            provider: "retell",
            service: ("cleaning", "Teeth cleaning", 30),
            fault: json!({"take_next_slot": true}),
            leads: &[
                ("Ana Ruiz", "+12125550401", "ana@example.com"),
                ("Ben Cho", "+12125550402", "ben@example.com"),
            ],
        },
        Business {
            name: "Oak Street Physio",
            provider: "vapi",
            service: ("assessment", "Physio assessment", 45),
            fault: json!({"status": 503, "times": 1}),
            leads: &[
                ("Cleo Park", "+12125550403", "cleo@example.com"),
                ("Dev Patel", "+12125550404", "dev@example.com"),
            ],
        },
    ]
}

pub async fn run(api: &Api, sim: &Sim, admin: &str, report: &mut Vec<String>) {
    let pid = std::process::id();
    report.push(String::new());
    report.push(
        "in-call tools     one shared agent for two businesses, each with its own Cal.com (simulated API v2)".into(),
    );
    report.push(
        "  times below     each request's round trip through MiniStack's Lambda, shared with the other sections' webhooks; server time is in docs/performance.md".into(),
    );
    for (i, business) in businesses().into_iter().enumerate() {
        let slug = format!("demo-tools-{i}-{pid}");
        let account = format!("cal_demo_{i}_{pid}");
        let tenant = json!({
            "name": business.name, "slug": slug, "timezone": "America/New_York", "default_region": "US",
            "calling_window": { "start": "09:00", "end": "19:00" },
            "voice": { "provider": business.provider }
        });
        let (_, key) = api.new_tenant(admin, &tenant).await;
        let settings = json!({
            "name": business.name, "timezone": "America/New_York",
            "opening_hours": {
                "monday": [{"open": "09:00", "close": "17:00"}], "tuesday": [{"open": "09:00", "close": "17:00"}],
                "wednesday": [{"open": "09:00", "close": "17:00"}], "thursday": [{"open": "09:00", "close": "17:00"}],
                "friday": [{"open": "09:00", "close": "17:00"}]
            },
            "booking_rules": {"min_notice_minutes": 120, "max_days_ahead": 30},
            "calcom_api_key": account
        });
        let body = |v: &Value| Some(("application/json", v.to_string().into_bytes()));
        api.expect(Method::PUT, "/v1/business", &key, body(&settings), 201)
            .await;
        // The booking is texted to the lead: the first lead confirms it by
        // replying C, the second asks for the link with R.
        crate::messaging::configure(
            api,
            &key,
            &json!({"senders": {"sms_number": crate::messaging::sender(10 + i as u32)},
                    "booking_link": format!("https://cal.test/{slug}")}),
        )
        .await;
        crate::messaging::will_reply(sim, business.leads[0].1, "C").await;
        crate::messaging::will_reply(sim, business.leads[1].1, "R").await;
        let (id, name, minutes) = business.service;
        let service = json!({"id": id, "name": name, "duration_minutes": minutes,
                             "price_cents": 9500, "calcom_event_type_id": 700 + i as u64});
        api.expect(Method::POST, "/v1/services", &key, body(&service), 201)
            .await;
        sim.send(
            Method::PUT,
            &format!("/_sim/calcom/event-types/{}?account={account}", 700 + i),
            Some(json!({"duration_minutes": minutes})),
        )
        .await;
        sim.send(
            Method::POST,
            &format!("/_sim/calcom/faults?account={account}"),
            Some(business.fault.clone()),
        )
        .await;
        for (lead, phone, email) in business.leads {
            let script = json!({"outcome": "appointment_set", "talk_seconds": 180,
                                "tools": [{"name": "get_business_hours"}],
                                "booking": {"service": id, "name": lead, "email": email, "date": "tomorrow"}});
            sim.send(Method::PUT, &format!("/_sim/numbers/{phone}"), Some(script))
                .await;
        }
        let campaign = api
            .new_campaign(&key, &json!({"name": "Book a visit"}))
            .await;
        let csv: String = std::iter::once("name,phone,email\n".to_owned())
            .chain(
                business
                    .leads
                    .iter()
                    .map(|(n, p, e)| format!("{n},{p},{e}\n")),
            )
            .collect();
        api.expect(
            Method::POST,
            &format!("/v1/campaigns/{campaign}/leads:import"),
            &key,
            Some(("text/csv", csv.into_bytes())),
            200,
        )
        .await;
        api.expect(
            Method::POST,
            &format!("/v1/campaigns/{campaign}:start"),
            &key,
            None,
            202,
        )
        .await;
        // Until every call is over and every agent has finished booking.
        let started = Instant::now();
        let leads = loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let leads = crate::calling::all_leads(api, &key, &campaign).await;
            let mut done = true;
            for lead in &leads {
                let calling = matches!(lead["status"].as_str(), Some("new" | "queued" | "calling"));
                let phone = lead["phone"].as_str().unwrap_or_default();
                done &= !calling && booking_finished(&tool_calls(sim, phone).await);
            }
            if done || started.elapsed() > Duration::from_secs(180) {
                break leads;
            }
        };
        // The texts and the leads' replies: until none is on its way.
        crate::messaging::settle(api, &key, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        crate::messaging::settle(api, &key, Duration::from_secs(30)).await;
        let provider = if business.provider == "retell" {
            "Retell custom functions"
        } else {
            "Vapi tool-calls"
        };
        report.push(format!(
            "  {} ({provider}), Cal.com fault once: {}",
            business.name, business.fault
        ));
        for lead in &leads {
            let phone = lead["phone"].as_str().unwrap_or_default();
            let asked: Vec<String> = tool_calls(sim, phone)
                .await
                .iter()
                .map(|t| {
                    let answer = &t["answer"];
                    let what = if answer["booked"] == true {
                        "booked".to_owned()
                    } else if answer["booked"] == false {
                        format!(
                            "taken, {} alternatives",
                            answer["alternatives"].as_array().map_or(0, Vec::len)
                        )
                    } else if answer["follow_up"].is_boolean() {
                        "fallback + follow-up task".to_owned()
                    } else if let Some(slots) = answer["slots"].as_array() {
                        format!("{} slots", slots.len())
                    } else if t["error"].is_string() {
                        "error".to_owned()
                    } else {
                        "answered".to_owned()
                    };
                    format!(
                        "{} ({what}, {} ms)",
                        t["name"].as_str().unwrap_or("?"),
                        t["elapsed_ms"]
                    )
                })
                .collect();
            let id = lead["id"].as_str().unwrap_or_default();
            let appointments = api
                .expect(
                    Method::GET,
                    &format!("/v1/leads/{id}/appointments"),
                    &key,
                    None,
                    200,
                )
                .await;
            let booked: Vec<String> = appointments["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let start = a["starts_at"]
                        .as_str()
                        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                        .and_then(|t| t.in_tz("America/New_York").ok())
                        .map(|z| z.strftime("%a %b %-d %H:%M").to_string())
                        .unwrap_or_default();
                    format!(
                        "{} {start} New York (Cal.com {})",
                        a["service"].as_str().unwrap_or("?"),
                        a["booking_uid"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            report.push(format!(
                "    {:<11}{:<10}appointment: {}",
                lead["name"].as_str().unwrap_or("?"),
                lead["status"].as_str().unwrap_or("?"),
                if booked.is_empty() {
                    "none (the business follows up)".to_owned()
                } else {
                    booked.join(", ")
                }
            ));
            report.push(format!("    {:<21}agent asked: {}", "", asked.join(" -> ")));
            let confirmed = appointments["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["confirmation"].is_object());
            if confirmed {
                report.push(format!(
                    "    {:<21}confirmed by replying C to the booking's text",
                    ""
                ));
            }
            for message in crate::messaging::lines(&crate::messaging::of_lead(api, &key, id).await)
            {
                report.push(format!("    {:<21}message: {message}", ""));
            }
        }
        let bookings = sim
            .send(
                Method::GET,
                &format!("/_sim/calcom/bookings?account={account}"),
                None,
            )
            .await;
        let bookings = bookings.as_array().cloned().unwrap_or_default();
        let tagged = bookings
            .iter()
            .filter(|b| {
                b["metadata"]["leadline_tenant"] == slug.as_str()
                    && b["metadata"]["leadline_call"].is_string()
            })
            .count();
        report.push(format!(
            "    Cal.com holds {} booking(s) for this business, {tagged} carrying leadline's tenant, lead and call",
            bookings.iter().filter(|b| b["status"] != "cancelled").count()
        ));
    }
}

/// The agent's function calls on the calls to `phone`, as the simulator recorded them.
async fn tool_calls(sim: &Sim, phone: &str) -> Vec<Value> {
    let path = format!("/_sim/tool-calls?to={}", phone.replace('+', "%2B"));
    let calls = sim.send(Method::GET, &path, None).await;
    calls.as_array().cloned().unwrap_or_default()
}

/// The agent is done: it booked, or got an error, the fallback or no free
/// times, or its second try was taken too.
fn booking_finished(calls: &[Value]) -> bool {
    let Some(last) = calls.last() else {
        return false;
    };
    let answer = &last["answer"];
    let tries = calls
        .iter()
        .filter(|c| c["name"] == "book_appointment")
        .count();
    last["error"].is_string()
        || answer["booked"] == true
        || answer["follow_up"].is_boolean()
        || (answer["booked"] == false && tries >= 2)
        || answer["slots"].as_array().is_some_and(Vec::is_empty)
}
