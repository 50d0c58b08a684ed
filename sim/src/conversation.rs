//! What was said on a simulated call and what the agent's analysis makes of
//! it, in provider-neutral terms.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::script::{Outcome, Script};

/// Who says a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speaker {
    Agent,
    Lead,
}

/// The time zone a requested callback is stated in.
const CALLBACK_TIME_ZONE: &str = "America/New_York";

/// The lines of the call, personalised with the call's variables
/// (`first_name`, `business_name`) when the caller passed them.
pub(crate) fn lines(
    script: &Script,
    variables: Option<&Map<String, Value>>,
) -> Vec<(Speaker, String)> {
    use Speaker::{Agent, Lead};
    let outcome = script.outcome;
    let variable = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| variables?.get(*name)?.as_str())
            .map(str::to_owned)
    };
    let name = variable(&["first_name", "name", "lead_name"]).unwrap_or_else(|| "there".into());
    let business = variable(&["business_name", "business"]).unwrap_or_else(|| "our office".into());
    if outcome == Outcome::Voicemail {
        return vec![(
            Agent,
            format!(
                "Hi {name}, this is Ava from {business}, returning your enquiry. \
                 Please call us back when it suits you. Thanks!"
            ),
        )];
    }
    if !outcome.reached() {
        return Vec::new();
    }
    let mut lines = vec![
        (
            Agent,
            format!(
                "Hi {name}, this is Ava from {business} about your enquiry. Is now a good time?"
            ),
        ),
        (Lead, "Sure, go ahead.".to_owned()),
        (
            Agent,
            "Great. What are you hoping to get help with?".to_owned(),
        ),
    ];
    if let (Outcome::CallbackRequested { .. }, Some(phrase)) = (outcome, &script.callback_phrase) {
        lines.push((
            Lead,
            format!("Actually I'm driving. Can you call me back {phrase}?"),
        ));
        lines.push((
            Agent,
            format!("Of course, I'll call you back {phrase}. Drive safe!"),
        ));
        return lines;
    }
    let ending: &[(Speaker, &str)] = match outcome {
        Outcome::AppointmentSet => &[
            (Lead, "I'd like to come in and talk it through."),
            (Agent, "Would Tuesday at 3 pm work for you?"),
            (Lead, "Tuesday at 3 works."),
            (
                Agent,
                "You're booked for Tuesday at 3 pm. You'll get a confirmation shortly. Bye!",
            ),
        ],
        Outcome::CallbackRequested { .. } => &[
            (Lead, "Actually I'm driving. Can you call me back tomorrow?"),
            (Agent, "Of course, I'll call you back tomorrow. Drive safe!"),
        ],
        Outcome::NotInterested => &[
            (
                Lead,
                "I've sorted it out already, I'm not interested any more.",
            ),
            (Agent, "Understood, thanks for your time."),
        ],
        Outcome::DoNotCall => &[
            (
                Lead,
                "Please stop calling me and take my number off your list.",
            ),
            (
                Agent,
                "I'm sorry. I've removed your number; you won't be called again.",
            ),
        ],
        Outcome::Qualified => &[
            (
                Lead,
                "I want to start this month, and the budget we discussed is fine.",
            ),
            (
                Agent,
                "Perfect, you're a great fit. Our team will send you the next steps.",
            ),
        ],
        Outcome::Potential => &[
            (Lead, "Maybe later this year. I'm still comparing options."),
            (Agent, "No problem, we'll keep you posted."),
        ],
        Outcome::NotQualified => &[
            (
                Lead,
                "I was looking for something else entirely, to be honest.",
            ),
            (Agent, "Thanks for letting me know. Take care!"),
        ],
        _ => &[],
    };
    lines.extend(ending.iter().map(|(who, text)| (*who, (*text).to_owned())));
    lines
}

/// A transcript as the providers write it: `"<label>: <text>\n"` per line.
pub(crate) fn transcript(lines: &[(Speaker, String)], agent: &str, lead: &str) -> String {
    lines
        .iter()
        .map(|(who, text)| {
            let label = match who {
                Speaker::Agent => agent,
                Speaker::Lead => lead,
            };
            format!("{label}: {text}\n")
        })
        .collect()
}

pub(crate) fn summary(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::AppointmentSet => "The lead booked an appointment for Tuesday at 3 pm.",
        Outcome::CallbackRequested { .. } => "The lead was busy and asked to be called back.",
        Outcome::NotInterested => "The lead is no longer interested.",
        Outcome::DoNotCall => "The lead asked not to be called again.",
        Outcome::Qualified => "The lead wants to start this month and fits the budget: qualified.",
        Outcome::Potential => "The lead may be interested later this year.",
        Outcome::NotQualified => "The lead was looking for something else: not qualified.",
        Outcome::Voicemail => "The call reached voicemail; the agent left a message.",
        Outcome::NoAnswer => "The lead did not answer.",
        Outcome::Busy => "The line was busy.",
        Outcome::Failed => "The call failed.",
        Outcome::InvalidNumber => "The number is invalid.",
    }
}

/// Retell's `user_sentiment`.
pub(crate) fn sentiment(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::AppointmentSet | Outcome::Qualified => "Positive",
        Outcome::NotInterested | Outcome::DoNotCall => "Negative",
        _ if outcome.reached() => "Neutral",
        _ => "Unknown",
    }
}

/// Did the call achieve something (Retell `call_successful`, Vapi `successEvaluation`)?
pub(crate) fn successful(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::AppointmentSet
            | Outcome::CallbackRequested { .. }
            | Outcome::Qualified
            | Outcome::Potential
    )
}

/// The agent's structured analysis: `{"outcome": ...}`, with `callback_at`
/// (RFC 3339 with an offset, `callback_in_seconds` after `ended_at`, to the
/// minute) for a callback, or `callback_time` when the lead said it in words;
/// empty when nobody was reached.
pub(crate) fn structured_data(script: &Script, ended_at: Timestamp) -> Value {
    let Some(label) = script.outcome.analysis_label() else {
        return json!({});
    };
    let mut data = json!({ "outcome": label });
    if let Outcome::CallbackRequested {
        callback_in_seconds,
    } = script.outcome
    {
        if let Some(phrase) = &script.callback_phrase {
            data["callback_time"] = json!(phrase);
            return data;
        }
        let seconds = i64::try_from(callback_in_seconds).unwrap_or(i64::MAX);
        let at = ended_at
            .as_second()
            .saturating_add(seconds)
            .div_euclid(60)
            .saturating_mul(60);
        data["callback_at"] = json!(rfc3339_with_offset(
            Timestamp::from_second(at).unwrap_or(Timestamp::MAX)
        ));
    }
    data
}

fn rfc3339_with_offset(at: Timestamp) -> String {
    match at.in_tz(CALLBACK_TIME_ZONE) {
        Ok(local) => local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => at.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
    }
}

/// ISO 8601 in UTC with milliseconds, as Vapi writes times.
pub(crate) fn iso_millis(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLBACK: Outcome = Outcome::CallbackRequested {
        callback_in_seconds: 3600,
    };

    #[test]
    fn a_callback_is_stated_with_an_offset() {
        let ended: Timestamp = "2026-11-23T14:59:30Z".parse().unwrap();
        let data = structured_data(&Script::typical(CALLBACK), ended);
        assert_eq!(
            data,
            json!({"outcome": "callback_requested", "callback_at": "2026-11-23T10:59:00-05:00"})
        );
        let at: Timestamp = data["callback_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(at, "2026-11-23T15:59:00Z".parse().unwrap());
        assert_eq!(
            structured_data(&Script::typical(Outcome::NoAnswer), ended),
            json!({})
        );
    }

    #[test]
    fn a_callback_said_in_words_has_no_time() {
        let script = Script::typical(CALLBACK).callback_phrase("Tuesday at 3");
        let ended: Timestamp = "2026-11-23T14:59:30Z".parse().unwrap();
        assert_eq!(
            structured_data(&script, ended),
            json!({"outcome": "callback_requested", "callback_time": "Tuesday at 3"})
        );
        let text = transcript(&lines(&script, None), "Agent", "User");
        assert!(text.contains("call me back Tuesday at 3?"), "{text}");
    }

    #[test]
    fn the_transcript_uses_the_callers_variables() {
        let vars = json!({"first_name": "Ada", "business_name": "Acme Dental"});
        let lines = lines(&Script::typical(Outcome::AppointmentSet), vars.as_object());
        let text = transcript(&lines, "Agent", "User");
        assert!(
            text.starts_with("Agent: Hi Ada, this is Ava from Acme Dental"),
            "{text}"
        );
        assert!(text.contains("\nUser: Tuesday at 3 works.\n"));
        assert!(super::lines(&Script::typical(Outcome::NoAnswer), None).is_empty());
    }

    #[test]
    fn vapi_times_have_milliseconds() {
        let at: Timestamp = "2026-11-23T14:59:30.5Z".parse().unwrap();
        assert_eq!(iso_millis(at), "2026-11-23T14:59:30.500Z");
    }
}
