//! `X-Twilio-Signature`, exactly as twilio-python 9.11.0's `RequestValidator`
//! (`twilio/request_validator.py`@306691e; messaging-facts §1.2):
//!
//! ```text
//! signature = base64(HMAC-SHA1(auth token, url + for each name in sorted(set(names)):
//!                                                  for each value in sorted(set(values of name)):
//!                                                      name + value))
//! ```
//!
//! - `url` is the public URL Twilio called, query string included, exactly
//!   as configured (the service rebuilds it from configuration, not from the
//!   Lambda event). Only the form **body** parameters are sorted and appended.
//! - The check is made twice, as the SDK does, "since sig generation on back
//!   end is inconsistent": with the URL's port removed and with the
//!   scheme's default port (`:443`, `:80`) added when it has none. Both URLs
//!   are first normalised as Python's `urlparse(url).geturl()` does (the
//!   scheme lower-cased, an empty `?` or `#` dropped), so the URL as given is
//!   always one of the two.
//! - JSON-body webhooks carry `?bodySHA256=<hex sha256 of the body>` in the
//!   URL; the signature then covers the URL alone ([`verify_json_signature`]).
//!
//! Comparisons are constant-time.

use std::collections::{BTreeMap, BTreeSet};

use data_encoding::{BASE64, HEXLOWER};
use sha2::{Digest, Sha256};

use crate::signature::{SignatureError, hmac_sha1, same};

/// The header Twilio signs its webhooks with (lower-cased, as API Gateway
/// delivers headers).
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Checks that a form-encoded webhook to `url` with the body `params` (see
/// [`parse_form`](crate::twilio::parse_form)) was signed with `auth_token`.
pub fn verify_signature(
    url: &str,
    params: &[(String, String)],
    signature: &str,
    auth_token: &str,
) -> Result<(), SignatureError> {
    let (without_port, with_port) = port_variants(url);
    let matches = |url: &str| {
        same(
            sign(url, params, auth_token).as_bytes(),
            signature.as_bytes(),
        )
    };
    // Both are computed, as the SDK does, so the time taken does not tell which matched.
    let (a, b) = (matches(&without_port), matches(&with_port));
    if a | b {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks a JSON-body webhook: `url` carries `bodySHA256`, the hex SHA-256
/// of `raw_body`, and the signature covers `url` with no parameters.
pub fn verify_json_signature(
    url: &str,
    raw_body: &[u8],
    signature: &str,
    auth_token: &str,
) -> Result<(), SignatureError> {
    let expected_hash = body_sha256_of(url).ok_or(SignatureError::Missing {
        header: "bodySHA256 query parameter".to_owned(),
    })?;
    let body_hash = HEXLOWER.encode(&Sha256::digest(raw_body));
    let valid_body = same(body_hash.as_bytes(), expected_hash.as_bytes());
    let signed = verify_signature(url, &[], signature, auth_token);
    match (valid_body, signed) {
        (true, Ok(())) => Ok(()),
        (false, _) => Err(SignatureError::BodyHashMismatch),
        (true, Err(error)) => Err(error),
    }
}

/// The `X-Twilio-Signature` Twilio would send for `params` posted to `url`
/// (the URL used as given). For tests and the provider simulator.
pub fn sign(url: &str, params: &[(String, String)], auth_token: &str) -> String {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    let mut signed = url.to_owned();
    for (name, values) in sorted {
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    BASE64.encode(&hmac_sha1(auth_token.as_bytes(), &[signed.as_bytes()]))
}

/// The first non-empty `bodySHA256` of the URL's query (Python's
/// `parse_qs(query)["bodySHA256"][0]`, which skips blank values).
fn body_sha256_of(url: &str) -> Option<String> {
    let query = url.split_once('#').map_or(url, |(before, _)| before);
    let (_, query) = query.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name == "bodySHA256" && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

/// The URL without its port and with its scheme's default port, as
/// twilio-python's `remove_port(urlparse(url))` and `add_port(urlparse(url))`.
fn port_variants(url: &str) -> (String, String) {
    let Some(parts) = UrlParts::parse(url) else {
        return (url.to_owned(), url.to_owned());
    };
    let netloc_without = match parts.port_start {
        Some(start) => &parts.netloc[..start],
        None => parts.netloc,
    };
    let netloc_with = match parts.port_start {
        Some(_) => parts.netloc.to_owned(),
        None => {
            let default = if parts.scheme == "https" { 443 } else { 80 };
            format!("{}:{default}", parts.netloc)
        }
    };
    (parts.join(netloc_without), parts.join(&netloc_with))
}

/// A URL cut as Python's `urlparse` cuts it, for `geturl()`.
struct UrlParts<'a> {
    /// Lower-cased, as `urlparse` returns it.
    scheme: String,
    netloc: &'a str,
    /// Where `:port` starts in `netloc`, when the URL has a port other than 0.
    port_start: Option<usize>,
    path: &'a str,
    query: &'a str,
    fragment: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return None;
        }
        let netloc_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (netloc, rest) = rest.split_at(netloc_end);
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            netloc,
            port_start: port_start(netloc),
            path,
            query,
            fragment,
        })
    }

    /// `urlunparse`: the query and fragment only when not empty.
    fn join(&self, netloc: &str) -> String {
        let mut url = format!("{}://{netloc}{}", self.scheme, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(self.query);
        }
        if !self.fragment.is_empty() {
            url.push('#');
            url.push_str(self.fragment);
        }
        url
    }
}

/// Where the `:port` of a netloc starts, when it has a non-zero port.
fn port_start(netloc: &str) -> Option<usize> {
    let host_start = netloc.rfind('@').map_or(0, |at| at + 1);
    let host = &netloc[host_start..];
    let colon = if host.starts_with('[') {
        let close = host.find(']')?;
        host[close..].find(':').map(|i| close + i)?
    } else {
        host.find(':')?
    };
    let port = &host[colon + 1..];
    let non_zero = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p > 0 && p <= 65_535);
    non_zero.then_some(host_start + colon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants(url: &str) -> (String, String) {
        port_variants(url)
    }

    #[test]
    fn the_port_is_removed_or_the_default_added() {
        assert_eq!(
            variants("https://a.example.com/sms?x=1"),
            (
                "https://a.example.com/sms?x=1".into(),
                "https://a.example.com:443/sms?x=1".into()
            )
        );
        assert_eq!(
            variants("http://a.example.com/sms"),
            (
                "http://a.example.com/sms".into(),
                "http://a.example.com:80/sms".into()
            )
        );
        assert_eq!(
            variants("https://a.example.com:8443/sms"),
            (
                "https://a.example.com/sms".into(),
                "https://a.example.com:8443/sms".into()
            )
        );
        assert_eq!(
            variants("https://[::1]:8443/sms"),
            ("https://[::1]/sms".into(), "https://[::1]:8443/sms".into())
        );
    }

    #[test]
    fn urls_are_normalised_as_geturl_does() {
        assert_eq!(
            variants("HTTPS://A.example.com/sms?#"),
            (
                "https://A.example.com/sms".into(),
                "https://A.example.com:443/sms".into()
            )
        );
        assert_eq!(
            variants("https://a.example.com"),
            (
                "https://a.example.com".into(),
                "https://a.example.com:443".into()
            )
        );
    }

    #[test]
    fn the_sdk_readme_example_verifies() {
        // twilio-python's own test vector (tests/unit/test_request_validator.py).
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(sign(url, &params, "12345"), expected);
        assert_eq!(verify_signature(url, &params, expected, "12345"), Ok(()));
        assert_eq!(
            verify_signature(url, &params, expected, "54321"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_json_body_needs_its_hash_in_the_url() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(matches!(
            verify_json_signature(url, body, "x", "12345"),
            Err(SignatureError::Missing { .. })
        ));
        let hash = HEXLOWER.encode(&Sha256::digest(body));
        let url = format!("{url}&bodySHA256={hash}");
        let signature = sign(&url, &[], "12345");
        assert_eq!(
            verify_json_signature(&url, body, &signature, "12345"),
            Ok(())
        );
        assert_eq!(
            verify_json_signature(&url, b"{}", &signature, "12345"),
            Err(SignatureError::BodyHashMismatch)
        );
    }
}
