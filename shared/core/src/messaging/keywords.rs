//! What a lead's message asks for. Opt-out wins over everything: CANCEL,
//! STOP, END and QUIT always mean "no more", never an appointment command
//! (Twilio's default keywords, and per se revocations under FCC 24-24).

/// What a lead's message means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// No more messages or calls. `keyword`: the whole message is one of
    /// the carrier's single-word keywords (the carrier then confirms it itself).
    OptOut {
        keyword: bool,
    },
    /// START, UNSTOP: messages again. YES is also Twilio's opt-in word
    /// ([`Intent::Yes`]).
    OptIn,
    Help,
    /// C, Y, 1, CONFIRM: yes to the appointment the lead was messaged about.
    Confirm,
    /// YES: a confirmation, and Twilio's default opt-in word (it
    /// re-subscribes a lead who opted out at the carrier).
    Yes,
    /// R, RESCHEDULE: the lead wants another time.
    Reschedule,
    /// X, N, 9: cancel the appointment (asked to confirm first).
    Cancel,
    /// Anything else: kept in the conversation, the team is told.
    Other,
}

/// Twilio's default opt-out keywords (long codes, toll-free), 2025.
const OPT_OUT_WORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];

/// Phrases that revoke consent by "reasonable means" (FCC 24-24): found
/// anywhere in the message.
const OPT_OUT_PHRASES: [&str; 22] = [
    "OPT OUT",
    "OPT-OUT",
    "STOP TEXTING",
    "STOP MESSAGING",
    "STOP SENDING",
    "STOP CALLING",
    "STOP CONTACTING",
    "STOP TEXT",
    "DONT TEXT",
    "DO NOT TEXT",
    "DONT CALL",
    "DO NOT CALL",
    "DONT CONTACT",
    "DO NOT CONTACT",
    "DONT MESSAGE",
    "DO NOT MESSAGE",
    "NO MORE TEXTS",
    "NO MORE MESSAGES",
    "REMOVE ME",
    "TAKE ME OFF",
    "UNSUBSCRIBE",
    "LEAVE ME ALONE",
];

/// The message as words: upper case, punctuation dropped (an apostrophe
/// joins, "don't" is DONT), whitespace collapsed.
pub fn normalize(text: &str) -> String {
    let mut words = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\'' || c == '’' {
            continue;
        }
        if c.is_alphanumeric() {
            words.extend(c.to_uppercase());
        } else if c == '-' && !words.ends_with(' ') && !words.is_empty() {
            words.push('-');
        } else if !words.ends_with(' ') && !words.is_empty() {
            words.push(' ');
        }
    }
    words.trim_end_matches([' ', '-']).to_owned()
}

pub fn classify(text: &str) -> Intent {
    let words = normalize(text);
    if OPT_OUT_WORDS.contains(&words.as_str()) {
        return Intent::OptOut { keyword: true };
    }
    let padded = format!(" {words} ");
    if OPT_OUT_PHRASES
        .iter()
        .any(|phrase| padded.contains(&format!(" {phrase} ")))
        || words.split(' ').next().is_some_and(|first| {
            // "Stop please", "STOP!!", "quit it", "cancel that": an opt-out
            // word first (CANCEL, END and QUIT always mean opt-out).
            OPT_OUT_WORDS.contains(&first)
        })
    {
        return Intent::OptOut { keyword: false };
    }
    match words.as_str() {
        "START" | "UNSTOP" => Intent::OptIn,
        "HELP" | "INFO" => Intent::Help,
        "YES" => Intent::Yes,
        "C" | "Y" | "1" | "CONFIRM" | "CONFIRMED" => Intent::Confirm,
        "R" | "RESCHEDULE" => Intent::Reschedule,
        "X" | "N" | "9" => Intent::Cancel,
        _ => Intent::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_carrier_keyword_opts_out_in_any_case_and_with_punctuation() {
        for word in OPT_OUT_WORDS {
            for text in [
                word.to_owned(),
                word.to_lowercase(),
                format!("  {}!! ", capitalized(word)),
                format!("{word}."),
            ] {
                assert_eq!(classify(&text), Intent::OptOut { keyword: true }, "{text}");
            }
        }
    }

    #[test]
    fn reasonable_means_of_revoking_consent_opt_out_too() {
        for text in [
            "opt out",
            "Opt-out please",
            "OPT OUT!",
            "please stop texting me",
            "Stop please",
            "Cancel please",
            "quit it",
            "END this now",
            "Can you stop messaging me?",
            "don't text me again",
            "Do not contact me.",
            "remove me from your list",
            "take me off this list",
            "I want to unsubscribe",
            "leave me alone",
        ] {
            assert_eq!(classify(text), Intent::OptOut { keyword: false }, "{text}");
        }
    }

    #[test]
    fn cancel_stop_end_and_quit_are_never_appointment_commands() {
        for text in ["CANCEL", "cancel", "Stop", "END", "quit"] {
            assert!(matches!(classify(text), Intent::OptOut { .. }), "{text}");
        }
        for text in ["X", "x", "N", "9"] {
            assert_eq!(classify(text), Intent::Cancel, "{text}");
        }
    }

    #[test]
    fn start_and_unstop_opt_in_and_help_asks_for_help() {
        assert_eq!(classify("start"), Intent::OptIn);
        assert_eq!(classify("UNSTOP"), Intent::OptIn);
        assert_eq!(classify("Help"), Intent::Help);
        assert_eq!(classify("info?"), Intent::Help);
    }

    #[test]
    fn confirmations_and_reschedules() {
        for text in ["C", "c", "Y", "1", "CONFIRM", "confirm."] {
            assert_eq!(classify(text), Intent::Confirm, "{text}");
        }
        assert_eq!(classify("yes"), Intent::Yes);
        assert_eq!(classify("Yes!"), Intent::Yes);
        for text in ["R", "reschedule"] {
            assert_eq!(classify(text), Intent::Reschedule, "{text}");
        }
    }

    #[test]
    fn anything_else_is_conversation() {
        for text in [
            "What time is it?",
            "Can we do Tuesday",
            "yes please call me at 5",
            "the end of the street",
            "can we end at 5",
            "",
        ] {
            assert_eq!(classify(text), Intent::Other, "{text}");
        }
    }

    fn capitalized(word: &str) -> String {
        let lower = word.to_lowercase();
        let mut chars = lower.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}
