//! `application/x-www-form-urlencoded`, as Twilio's API reads it and its
//! webhooks send it.

/// The decoded `name=value` pairs of a form body, in order (`+` is a space).
pub(crate) fn decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(name), unescape(value))
        })
        .collect()
}

/// Encodes `pairs` as a form body: letters, digits and `*-._` stay, a space
/// becomes `+`, every other byte `%XX`.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut body = String::new();
    for (name, value) in pairs {
        if !body.is_empty() {
            body.push('&');
        }
        escape(name, &mut body);
        body.push('=');
        escape(value, &mut body);
    }
    body
}

fn escape(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_round_trips() {
        let pairs = [
            ("To", "+14155550100"),
            ("Body", "Hi Ada, 50% off & more: é"),
            ("MediaUrl", "https://x.test/a?b=c"),
            ("MediaUrl", ""),
        ];
        let body = encode(pairs);
        assert!(body.starts_with("To=%2B14155550100&Body=Hi+Ada%2C+50%25+off+%26+more"));
        let decoded = decode(&body);
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(decoded, expected);
        assert_eq!(
            decode("a=1+2&b&&c=%zz"),
            [
                ("a".into(), "1 2".into()),
                ("b".into(), String::new()),
                ("c".into(), "%zz".into())
            ]
        );
    }
}
