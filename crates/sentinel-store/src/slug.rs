/// A URL-safe slug from a display name: lower-case ASCII letters and digits, runs of anything else
/// collapsed to one `-`, trimmed. Empty when the name has no letters or digits.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugify_collapses_punctuation_and_lowercases() {
        assert_eq!(slugify("  My API (prod) "), "my-api-prod");
        assert_eq!(slugify("***"), "");
    }
}
