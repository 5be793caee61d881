//! Helpers for error messages built from names found in files.

/// Escapes control characters, so that a name taken from a hostile file cannot break a
/// one-line error message (or the terminal showing it).
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_control_characters_only() {
        assert_eq!(super::one_line("a\nb\u{8}é"), "a\\nb\\u{8}é");
        assert_eq!(super::one_line("plain"), "plain");
    }
}
