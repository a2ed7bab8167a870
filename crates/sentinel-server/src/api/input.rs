//! Request bodies of the management API and the rules their fields must meet.
//!
//! Bodies are JSON objects whose types reject unknown fields; every failure is a 400 whose message
//! names the field and what was expected (axum's own `Json` would answer 415/422 with its own
//! wording). The field rules are shared with the dashboard and the CLI.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use sentinel_store::{OrgRole, TokenScope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::ApiError;

/// Largest accepted management request body: every body here is a handful of short fields.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest display name, label or token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest organization slug.
pub const MAX_SLUG_CHARS: usize = 50;

/// SDK platforms a project may have: the dashboard shows setup snippets for them.
pub const PLATFORMS: &[&str] = &[
    "python",
    "node",
    "javascript",
    "rust",
    "go",
    "java",
    "kotlin",
    "android",
    "cocoa",
    "dart",
    "dotnet",
    "elixir",
    "php",
    "ruby",
    "native",
    "other",
];

/// A JSON request body of type `T`, parsed with precise 400s.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body()).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// An optional JSON body: an empty body is `None`.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        parse(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::BadRequest(format!(
            "the request body could not be read or is larger than {MAX_BODY_BYTES} bytes"
        ))
    })
}

/// Parses a JSON body; the message names the offending field and position.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "expected a JSON object in the request body".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

/// For `Option<Option<T>>` fields: absent stays `None` (with `#[serde(default)]`), `null` becomes
/// `Some(None)` (remove the value), a value becomes `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A display name (of a user, organization, project, key or token): trimmed, 1 to 100 characters,
/// no control characters.
pub fn name(field: &str, raw: &str) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::BadRequest(format!("{field} must not be empty")));
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::BadRequest(format!(
            "{field} must be at most {MAX_NAME_CHARS} characters long"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(v.to_owned())
}

/// An email address that looks deliverable (`local@domain.tld`, no spaces), lower-cased.
pub fn email(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim().to_lowercase();
    let bad = |why: &str| ApiError::BadRequest(format!("email {raw:?} {why}"));
    if v.is_empty() {
        return Err(ApiError::BadRequest("email must not be empty".into()));
    }
    if v.len() > MAX_EMAIL_BYTES {
        return Err(bad(&format!("is longer than {MAX_EMAIL_BYTES} bytes")));
    }
    let Some((local, domain)) = v.split_once('@') else {
        return Err(bad("is not an email address: expected name@domain"));
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty()
        || local.len() > 64
        || !domain.contains('.')
        || !labels_ok
        || domain.contains('@')
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
    {
        return Err(bad("is not an email address: expected name@domain"));
    }
    Ok(v)
}

/// An organization slug: lower-case letters, digits and `-`, starting with a letter or digit, at
/// most 50 characters.
pub fn slug(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.chars().count() <= MAX_SLUG_CHARS
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid slug {raw:?}: expected 1 to {MAX_SLUG_CHARS} lower-case letters, digits and \
             dashes, not starting or ending with a dash"
        )))
    }
}

/// One of [`PLATFORMS`].
pub fn platform(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim();
    if PLATFORMS.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid platform {raw:?}: expected one of {}",
            PLATFORMS.join(", ")
        )))
    }
}

pub fn role(raw: &str) -> Result<OrgRole, ApiError> {
    raw.parse().map_err(ApiError::BadRequest)
}

pub fn scope(raw: &str) -> Result<TokenScope, ApiError> {
    raw.parse().map_err(ApiError::BadRequest)
}

/// An events-per-minute limit: at least 1 (`null` removes a limit; 0 would refuse everything).
pub fn rate_limit(field: &str, v: u32) -> Result<u32, ApiError> {
    if v == 0 {
        Err(ApiError::BadRequest(format!(
            "{field} must be at least 1; use null for no limit"
        )))
    } else {
        Ok(v)
    }
}

/// Longest Apdex T, in milliseconds: a minute.
pub const MAX_APDEX_THRESHOLD_MS: u32 = 60_000;

/// Apdex's T in milliseconds: 1 to a minute.
pub fn apdex_threshold(field: &str, v: u32) -> Result<u32, ApiError> {
    if (1..=MAX_APDEX_THRESHOLD_MS).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::BadRequest(format!(
            "{field} must be between 1 and {MAX_APDEX_THRESHOLD_MS} milliseconds, got {v}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_must_look_like_emails_and_are_lower_cased() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.de",
            "ada@.com",
            "ada@x..com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Shop  ").unwrap(), "Shop");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", &"é".repeat(100)).is_ok());
        let e = name("label", "a\u{0}b").unwrap_err().to_string();
        assert!(e.contains("label"), "{e}");
    }

    #[test]
    fn slugs_are_lower_case_words_with_dashes() {
        assert!(slug("acme-2").is_ok());
        for bad in ["", "Acme", "-acme", "acme-", "ac me", &"a".repeat(51)] {
            assert!(slug(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_field() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only parsed")]
        struct B {
            name: String,
        }
        let e = parse::<B>(br#"{"name":"x","nmae":"y"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown field `nmae`"), "{e}");
        let e = parse::<B>(br#"{"name":5}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
        let e = parse::<B>(b"").unwrap_err().to_string();
        assert!(e.contains("JSON object"), "{e}");
    }

    #[test]
    fn platforms_come_from_the_list() {
        assert_eq!(platform("python").unwrap(), "python");
        let e = platform("cobol").unwrap_err().to_string();
        assert!(e.contains("expected one of python"), "{e}");
    }
}
