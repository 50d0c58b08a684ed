//! Text that goes into DynamoDB items, which may not exceed 400 KB.

/// Marks text that was cut to fit.
pub const TRUNCATION_MARKER: &str = "\n[... truncated by leadline]";

/// `text` cut to at most `max_bytes` bytes (on a character boundary), with a
/// marker when anything was cut.
pub fn bounded(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return text.into();
    }
    let mut end = max_bytes.saturating_sub(TRUNCATION_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATION_MARKER}", &text[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_as_it_is() {
        assert_eq!(bounded("hello", 10), "hello");
    }

    #[test]
    fn long_text_is_cut_with_a_marker_and_fits() {
        let long = "é".repeat(1000);
        let cut = bounded(&long, 500);
        assert!(cut.len() <= 500);
        assert!(cut.ends_with(TRUNCATION_MARKER));
    }
}
