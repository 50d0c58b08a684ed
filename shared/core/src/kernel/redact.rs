//! Personal data kept out of logs. Typed values mask themselves ([`Phone`],
//! [`Email`] and [`Recipient`] print masked); free text from outside (a
//! provider's error message, a calendar's refusal) goes through [`redact`]
//! before it is logged, which masks anything that looks like a phone number
//! or an email address. [`leaks`] finds what a log must never contain: an
//! E.164 number or an email address, as a log scan looks for them.
//!
//! [`Phone`]: crate::Phone
//! [`Email`]: crate::kernel::email::Email
//! [`Recipient`]: crate::messaging::message::Recipient

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// What replaces a hidden digit or the hidden part of an address.
pub const MASK: char = '•';

/// `text` with every phone-number-like and email-address-like run masked:
///
/// - an email address (one or more of `A-Z a-z 0-9 . _ % + -` before an `@`,
///   a domain after it with a dot and a top-level label of two letters or
///   more) keeps the first character of its local part and its domain:
///   `ana.ruiz@example.com` → `a•••@example.com`;
/// - a phone number keeps its last two digits and its punctuation, every other
///   digit is masked: `+1 (415) 555-2671` → `+• (•••) •••-••71`. A phone number
///   is a run of seven digits or more with at most two of ` . - ( )` between
///   digits, that starts with `+` (anywhere), or starts with a digit or `(`
///   outside a word (not after a letter, digit, `_`, `.`, `-` or `+`) and ends
///   outside one (no letter, digit or `_` after it): so ids (`call_12345678`),
///   UUIDs and timestamps (`2026-11-24T09:30:00Z`) stay readable.
///
/// Text with nothing to mask is returned as it is, without a copy.
pub fn redact(text: &str) -> Cow<'_, str> {
    match mask_emails(text) {
        Cow::Borrowed(text) => mask_phones(text),
        Cow::Owned(masked) => Cow::Owned(mask_phones(&masked).into_owned()),
    }
}

/// A value whose `Display` (with `%` in a tracing field) and `Debug` (`?`)
/// go through [`redact`]: `tracing::warn!(error = %Redacted(&e), ...)`.
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0.to_string()))
    }
}

impl<T: fmt::Debug> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&format!("{:?}", self.0)))
    }
}

/// What a log line must not contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakKind {
    /// `+` and eight digits or more: an E.164 number.
    Phone,
    /// A character of an address's local part, `@`, and a domain with a
    /// dot and a top-level label of two letters or more.
    Email,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub kind: LeakKind,
    /// Where in the text (byte offsets).
    pub at: Range<usize>,
}

/// Every E.164 number (`\+\d{8,}`) and email address
/// (`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`) in
/// `text`, as a scan of the logs looks for them. [`redact`]ed text has none.
pub fn leaks(text: &str) -> Vec<Leak> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'+' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits >= 8 {
                    found.push(Leak {
                        kind: LeakKind::Phone,
                        at: i..i + 1 + digits,
                    });
                }
            }
            b'@' => {
                if let Some(domain_end) = email_domain_end(bytes, i) {
                    found.push(Leak {
                        kind: LeakKind::Email,
                        at: local_start(bytes, i)..domain_end,
                    });
                }
            }
            _ => {}
        }
    }
    found
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// The start of the local part that ends before the `@` at `at`.
fn local_start(bytes: &[u8], at: usize) -> usize {
    at - bytes[..at]
        .iter()
        .rev()
        .take_while(|&&b| is_local(b))
        .count()
}

/// When the `@` at `at` is an email address's: the end of its domain (the
/// run of domain characters after it). It is one when a local-part character
/// comes right before it and the domain starts with labels (no leading dot,
/// no empty label) followed by a dot and two letters.
fn email_domain_end(bytes: &[u8], at: usize) -> Option<usize> {
    if at == 0 || !is_local(bytes[at - 1]) {
        return None;
    }
    let domain_len = bytes[at + 1..]
        .iter()
        .take_while(|&&b| is_domain(b))
        .count();
    let domain = &bytes[at + 1..at + 1 + domain_len];
    if domain.first().is_none_or(|&b| b == b'.') {
        return None;
    }
    // Labels must not be empty: only a dot before the first ".." counts.
    let labelled = domain
        .windows(2)
        .position(|w| w == b"..")
        .unwrap_or(domain.len());
    let has_top_level = (1..labelled).any(|i| {
        domain[i] == b'.'
            && domain.get(i + 1).is_some_and(u8::is_ascii_alphabetic)
            && domain.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
    });
    has_top_level.then_some(at + 1 + domain_len)
}

/// Every email address's local part but its first character replaced by `•••`.
fn mask_emails(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let locals: Vec<Range<usize>> = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'@' && email_domain_end(bytes, i).is_some())
        .map(|(i, _)| local_start(bytes, i)..i)
        .collect();
    if locals.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for local in locals {
        // Local parts are ASCII: their byte ranges are char boundaries.
        masked.push_str(&text[copied..local.start + 1]);
        masked.push_str("•••");
        copied = local.end;
    }
    masked.push_str(&text[copied..]);
    Cow::Owned(masked)
}

const MIN_PHONE_DIGITS: usize = 7;

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'-' | b'(' | b')')
}

/// A phone number's digits but the last two replaced by `•`.
fn mask_phones(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut masked: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match phone_at(bytes, i) {
            Some((end, digits)) => {
                let out = masked.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..i]);
                let mut seen = 0;
                for &b in &bytes[i..end] {
                    if b.is_ascii_digit() {
                        seen += 1;
                        out.push(if seen + 2 > digits {
                            char::from(b)
                        } else {
                            MASK
                        });
                    } else {
                        out.push(char::from(b));
                    }
                }
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    match masked {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The phone number starting at `start`, if one does: where it ends, and
/// how many digits it has.
fn phone_at(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let international = bytes[start] == b'+';
    if !international {
        let in_a_word = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'_' | b'.' | b'-' | b'+'));
        if in_a_word || !(bytes[start].is_ascii_digit() || bytes[start] == b'(') {
            return None;
        }
    }
    // `+`, then an optional `(`, then the first digit.
    let mut i = start + usize::from(international);
    if bytes.get(i) == Some(&b'(') {
        i += 1;
    }
    if !bytes.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut digits = 0;
    let mut end = i;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            digits += 1;
            i += 1;
            end = i;
            continue;
        }
        // At most two separators, then a digit.
        let separators = bytes[i..]
            .iter()
            .take(3)
            .take_while(|&&b| is_separator(b))
            .count();
        if separators == 0
            || separators > 2
            || !bytes.get(i + separators).is_some_and(u8::is_ascii_digit)
        {
            break;
        }
        i += separators;
    }
    let ends_a_word = bytes
        .get(end)
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
    (digits >= MIN_PHONE_DIGITS && (international || !ends_a_word)).then_some((end, digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_keep_their_last_two_digits_and_their_punctuation() {
        for (text, redacted) in [
            ("+14155552671", "+•••••••••71"),
            ("to +1 (415) 555-2671 failed", "to +• (•••) •••-••71 failed"),
            ("call (415) 555-2671.", "call (•••) •••-••71."),
            ("415.555.2671", "•••.•••.••71"),
            ("tel:4155552671", "tel:••••••••71"),
            (
                "\"to_number\":\"+919876543210\"",
                "\"to_number\":\"+••••••••••10\"",
            ),
            ("x+14155552671y", "x+•••••••••71y"),
        ] {
            assert_eq!(redact(text), redacted, "{text}");
        }
    }

    #[test]
    fn addresses_keep_their_first_character_and_their_domain() {
        for (text, redacted) in [
            ("ana.ruiz@example.com", "a•••@example.com"),
            (
                "attendee <Sam+cal@Mail.Example.co.uk> refused",
                "attendee <S•••@Mail.Example.co.uk> refused",
            ),
            ("a@b.co", "a•••@b.co"),
            ("14155552671@sms.example.net", "1•••@sms.example.net"),
        ] {
            assert_eq!(redact(text), redacted, "{text}");
        }
    }

    #[test]
    fn ids_times_versions_and_short_numbers_stay_readable() {
        for text in [
            "Cal.com answered 503: Service Unavailable",
            "call_12345678 and bk_afdaaf03859089de9f8766",
            "5f1a3c2e-0000-4000-8000-000000000001",
            "slot 2026-11-24T09:30:00Z is taken",
            "error 400 at +5 (v2.1.1234567)",
            "retry in 3600 s, attempt 2 of 4",
            "tally 123 - 4567 (three separators part them)",
            "ünïcödé 12 • done",
            "no @ here, nor user@localhost, nor @example.com",
            "",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_redacted_error_prints_masked_with_both_formats() {
        let error = "the provider refused +14155552671 (ana@example.com)";
        assert_eq!(
            Redacted(error).to_string(),
            "the provider refused +•••••••••71 (a•••@example.com)"
        );
        assert_eq!(
            format!("{:?}", Redacted(error)),
            "\"the provider refused +•••••••••71 (a•••@example.com)\""
        );
    }

    #[test]
    fn leaks_are_e164_numbers_and_addresses() {
        let line = "to=+14155552671 from +1 415 555 2671, mail ana@example.com, 4155552671";
        let found: Vec<(LeakKind, &str)> = leaks(line)
            .into_iter()
            .map(|l| (l.kind, &line[l.at]))
            .collect();
        assert_eq!(
            found,
            [
                (LeakKind::Phone, "+14155552671"),
                (LeakKind::Email, "ana@example.com")
            ]
        );
        assert!(leaks("+1234567 a@b @c.com x@.com x@.a.com x@y..com u@h.c1").is_empty());
        assert_eq!(leaks("+12345678")[0].at, 0..9, "eight digits are enough");
        assert_eq!(leaks("(x@y.co)")[0].at, 1..7);
        assert_eq!(leaks("x@y.z.co")[0].kind, LeakKind::Email);
    }

    // ---- property tests against an independent oracle ----
    //
    // Text is built from fragments whose redaction is known by construction:
    // neutral words, ids, times and short numbers stay; phone numbers in many
    // spellings and email addresses are masked. The expected text is the
    // fragments' own expected forms joined the same way.

    /// What a fragment must become.
    fn masked_number(fragment: &str) -> String {
        let digits = fragment.chars().filter(char::is_ascii_digit).count();
        let mut seen = 0;
        fragment
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    seen += 1;
                    if seen + 2 > digits { c } else { '•' }
                } else {
                    c
                }
            })
            .collect()
    }

    fn masked_address(fragment: &str) -> String {
        let (local, domain) = fragment.split_once('@').unwrap();
        format!("{}•••@{domain}", &local[..1])
    }

    fn neutral() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            "[a-zA-Z]{1,8}",
            "[0-9]{1,6}",
            "[0-9]{1,3}\\.[0-9]{1,3}",
            "(call|bk|att|cmp)_[0-9a-f]{6,20}",
            "[a-f][0-9a-f]{7}-[a-f][0-9a-f]{3}-[a-f][0-9a-f]{3}-[a-f][0-9a-f]{11}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z",
            "v[0-9]\\.[0-9]{1,9}",
            "(ünïcödé|naïve|•|—|日本)",
            "HTTP [1-5][0-9]{2}",
        ]
        .prop_map(|s| (s.clone(), s))
    }

    fn number() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            "\\+[1-9][0-9]{6,14}",
            "\\+[1-9][0-9]{0,2} \\([0-9]{3}\\) [0-9]{3}-[0-9]{4}",
            "\\+[1-9][0-9]{0,2} [0-9]{2,4} [0-9]{3,4} [0-9]{3,4}",
            "\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}",
            "[0-9]{3}\\.[0-9]{3}\\.[0-9]{4}",
            "[0-9]{3}-[0-9]{3}-[0-9]{4}",
            "[1-9][0-9]{6,13}",
        ]
        .prop_map(|s| (masked_number(&s), s))
    }

    fn address() -> impl Strategy<Value = (String, String)> {
        "[a-zA-Z0-9][a-zA-Z0-9._%+-]{0,12}@[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}\\.[a-z]{2,6}"
            .prop_map(|s| (masked_address(&s), s))
    }

    fn text() -> impl Strategy<Value = (String, String)> {
        let fragment = prop_oneof![3 => neutral(), 1 => number(), 1 => address()];
        let joiner = prop_oneof![
            Just(", "),
            Just("; "),
            Just(" | "),
            Just("\n"),
            Just(": "),
            Just(" = "),
            Just(" <"),
            Just("> "),
        ];
        proptest::collection::vec((fragment, joiner), 0..12).prop_map(|parts| {
            let (mut expected, mut text) = (String::new(), String::new());
            for ((masked, raw), joiner) in parts {
                expected.push_str(&masked);
                expected.push_str(joiner);
                text.push_str(&raw);
                text.push_str(joiner);
            }
            (expected, text)
        })
    }

    /// The log scan's own patterns, read by the regex crate.
    fn oracle_leaks(text: &str) -> bool {
        static PATTERNS: std::sync::LazyLock<[regex::Regex; 2]> = std::sync::LazyLock::new(|| {
            [
                regex::Regex::new(r"\+[0-9]{8}").unwrap(),
                regex::Regex::new(r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2}")
                    .unwrap(),
            ]
        });
        PATTERNS.iter().any(|p| p.is_match(text))
    }

    proptest! {
        #[test]
        fn redaction_masks_exactly_the_numbers_and_addresses((expected, text) in text()) {
            prop_assert_eq!(redact(&text), expected);
        }

        #[test]
        fn redacted_text_never_leaks_and_redacting_again_changes_nothing(
            text in prop_oneof![
                "[a-zA-Z0-9@.+()_% •é-]{0,48}",
                "([0-9]{1,10}|[+@.() -]|[a-c]{1,3}){0,14}",
            ]
        ) {
            let once = redact(&text);
            prop_assert!(!oracle_leaks(&once), "{:?} -> {:?}", text, once);
            prop_assert!(leaks(&once).is_empty(), "{:?} -> {:?}", text, once);
            prop_assert_eq!(redact(&once), once.clone());
        }

        #[test]
        fn leaks_finds_what_the_scan_patterns_find(
            text in prop_oneof!["[a-zA-Z0-9@.+_% -]{0,40}", "([0-9]{1,10}|[+@.]|[a-c]{1,3}|-){0,12}"]
        ) {
            prop_assert_eq!(!leaks(&text).is_empty(), oracle_leaks(&text), "{:?}", text);
        }

        #[test]
        fn text_without_digits_or_at_signs_is_not_copied(text in "[^0-9@]{0,40}") {
            prop_assert!(matches!(redact(&text), Cow::Borrowed(_)));
        }
    }
}
