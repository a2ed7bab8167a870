//! Pieces of the dashboard's URLs, encoded: query parameter values and path segments (release
//! versions and tenant names may hold `/`, spaces, anything). Shared by the pages and by the
//! links in notifications.

/// Percent-encodes a query parameter value (form encoding: a space becomes `+`).
pub fn form_urlencoded_component(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|e| e.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// One path segment: form encoding, except that a space must not become `+` in a path.
pub fn path_segment(s: &str) -> String {
    form_urlencoded_component(s).replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_single_path_segments() {
        assert_eq!(path_segment("app@1.0 beta/2+x"), "app%401.0%20beta%2F2%2Bx");
        assert_eq!(path_segment("tenant_acme-1.x"), "tenant_acme-1.x");
        assert_eq!(path_segment("zürich?"), "z%C3%BCrich%3F");
        assert_eq!(form_urlencoded_component("a b&c"), "a+b%26c");
    }
}
