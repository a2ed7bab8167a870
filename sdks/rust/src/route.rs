//! The fallback for requests without a route template: a raw path with its identifiers replaced
//! by `{id}`, so that `/v1/items/42` and `/v1/items/43` count as one endpoint. Pure: a string in,
//! a string out.

/// What an identifier segment becomes.
pub const ID_PLACEHOLDER: &str = "{id}";

/// Shortest hex segment taken for an id (a 64-bit value in hex, a short hash).
const MIN_HEX_CHARS: usize = 16;
/// Shortest letters-and-digits segment taken for a token (ULIDs, base64 ids, slugs with numbers).
const MIN_TOKEN_CHARS: usize = 20;

/// Drops the query and fragment, and replaces each path segment that looks like an identifier
/// with `{id}`:
///
/// - a number: `42`;
/// - a UUID: `0b5e4a1c-3d52-4b4e-9f77-58f1c5f0a3b2` (either case);
/// - hex of 16 characters or more: `5f2b9c0e8d7a6b41`, a SHA-1;
/// - a token of 20 characters or more made of letters, digits, `-`, `_` or `=`, with at least
///   one letter and one digit: `01HZX3N5V2K8Q7RJ4M6T9WBCDE`, `dXNlcjoxMjM0NTY3ODkw`.
///
/// Words (`items`, `getting-started-guide`) and short mixed segments (`v1`, `a1b2`) stay.
///
/// ```
/// use sentinel_sensor::normalize_path;
/// assert_eq!(normalize_path("/v1/items/42/photos?size=large"), "/v1/items/{id}/photos");
/// ```
pub fn normalize_path(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    let path = &path[..end];
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if is_identifier(segment) {
            ID_PLACEHOLDER
        } else {
            segment
        });
    }
    out
}

fn is_identifier(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if is_uuid(bytes) {
        return true;
    }
    if bytes.len() >= MIN_HEX_CHARS && bytes.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    bytes.len() >= MIN_TOKEN_CHARS
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
        && bytes.iter().any(u8::is_ascii_digit)
        && bytes.iter().any(u8::is_ascii_alphabetic)
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_uuids_hex_and_long_tokens_become_placeholders() {
        let cases = [
            ("/v1/items/42", "/v1/items/{id}"),
            (
                "/users/0B5E4A1C-3D52-4B4E-9F77-58F1C5F0A3B2/orders/7",
                "/users/{id}/orders/{id}",
            ),
            ("/blobs/5f2b9c0e8d7a6b41", "/blobs/{id}"),
            (
                "/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "/commits/{id}",
            ),
            ("/sessions/01HZX3N5V2K8Q7RJ4M6T9WBCDE", "/sessions/{id}"),
            ("/t/dXNlcjoxMjM0NTY3ODkw==", "/t/{id}"),
        ];
        for (raw, template) in cases {
            assert_eq!(normalize_path(raw), template, "{raw}");
        }
    }

    #[test]
    fn words_versions_and_short_mixed_segments_stay() {
        for path in [
            "/v1/items",
            "/docs/getting-started-guide",
            "/a1b2/deadbeef",
            "/api/v2/health/",
            "/",
        ] {
            assert_eq!(normalize_path(path), path);
        }
    }

    #[test]
    fn the_query_and_fragment_are_dropped() {
        assert_eq!(normalize_path("/search?q=42&page=3"), "/search");
        assert_eq!(normalize_path("/docs/7#install"), "/docs/{id}");
        assert_eq!(normalize_path("?only=query"), "/");
        assert_eq!(normalize_path(""), "/");
    }
}
