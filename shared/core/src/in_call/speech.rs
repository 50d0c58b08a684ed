//! What the agent says: sentences and the lists and times in them.

use super::*;

/// Spoken when the call cannot be tied to a business.
pub const UNKNOWN_BUSINESS: &str = "I'm sorry, I can't look that up for this business right now. Someone from the team will follow up with you.";

/// Spoken when the metadata of a call does not match the call leadline
/// placed (or the call is over): nothing is looked up, asked or written.
pub const NOT_THIS_CALL: &str =
    "I'm sorry, I can't do that on this call. Someone from the team will follow up with you.";

/// What the agent says when the calendar cannot answer in time.
pub const FALLBACK: &str =
    "I'm having trouble reaching the calendar right now. I'll text you a confirmation shortly.";

pub(super) fn business_info(business: &Business) -> ToolReply {
    let mut sentence = format!("This is {}.", business.name);
    if let Some(about) = &business.about {
        sentence.push(' ');
        sentence.push_str(about);
    }
    if let Some(address) = &business.address {
        sentence.push_str(&format!(" We're at {address}."));
    }
    ToolReply::say(
        sentence,
        json!({
            "name": business.name,
            "address": business.address,
            "phone": business.phone.as_ref().map(Phone::e164),
            "timezone": business.zone.name(),
            "hours": business.spoken_hours(),
            "answers": business.answers,
        }),
    )
}

pub(super) fn services(business: &Business) -> ToolReply {
    let listed: Vec<Value> = business
        .services
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "duration_minutes": s.duration_minutes,
                "price": s.price.to_string(),
                "bookable_by_phone": s.voice_booking,
            })
        })
        .collect();
    let names: Vec<String> = business
        .services
        .iter()
        .map(|s| format!("{} ({} minutes, {})", s.name, s.duration_minutes, s.price))
        .collect();
    let sentence = if names.is_empty() {
        "I don't have a list of services to share right now.".to_owned()
    } else {
        format!("We offer {}.", and_list(&names))
    };
    ToolReply::say(sentence, json!({"services": listed}))
}

/// "Tuesday, November 24 at 3:00 PM" in the caller's zone.
pub fn spoken(at: Timestamp, zone: &Zone) -> String {
    zone.local(at)
        .strftime("%A, %B %-d at %-I:%M %p")
        .to_string()
}

pub(super) fn spoken_day(at: Timestamp, zone: &Zone) -> String {
    zone.local(at).strftime("%A, %B %-d").to_string()
}

pub(super) fn slot_list(slots: &[Timestamp], zone: &Zone) -> Vec<Value> {
    slots
        .iter()
        .map(|t| json!({"start": t.to_string(), "local": zone.local(*t).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(), "spoken": spoken(*t, zone)}))
        .collect()
}

pub(super) fn appointment_json(a: &Appointment, zone: &Zone) -> Value {
    json!({
        "id": a.id,
        "service": a.service,
        "start": a.starts_at.to_string(),
        "end": a.ends_at.to_string(),
        "spoken": spoken(a.starts_at, zone),
        "status": a.status,
    })
}

pub(super) fn or_list(items: &[String]) -> String {
    joined(items, "or")
}

pub(super) fn and_list(items: &[String]) -> String {
    joined(items, "and")
}

pub(super) fn joined(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{}, {word} {last}", rest.join(", ")),
    }
}
