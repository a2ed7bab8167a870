//! Reading what a user entered for a channel: string fields, URLs, and the masked hints shown in
//! place of secrets. Every error names its field (`"url: must be an http:// or https:// URL"`).

use reqwest::Url;
use serde_json::{Map, Value};

/// The longest URL accepted; receivers' URLs are far shorter.
const MAX_URL_LEN: usize = 2048;

/// The settings object as entered: values are strings (a dashboard form), though the JSON API may
/// also send numbers or arrays where a field allows them. Unknown fields are ignored.
pub(super) struct Input<'a>(pub(super) &'a Map<String, Value>);

impl<'a> Input<'a> {
    pub(super) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// The trimmed string value; `None` when absent or blank.
    pub(super) fn optional(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                Ok((!s.is_empty()).then_some(s))
            }
            Some(_) => Err(format!("{name}: must be a string")),
        }
    }

    pub(super) fn required(&self, name: &str) -> Result<&'a str, String> {
        self.optional(name)?.ok_or_else(|| format!("{name}: is required"))
    }
}

/// An absolute `http://` or `https://` URL with a host.
pub(super) fn http_url(field: &str, s: &str) -> Result<Url, String> {
    let invalid = || format!("{field}: must be an http:// or https:// URL");
    if s.len() > MAX_URL_LEN {
        return Err(format!("{field}: must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(s).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(url)
}

/// What may be shown of a URL that carries a credential in its path or query: scheme, host and
/// port, then `…` and the last 4 characters (`https://hooks.slack.com/…Tm4T`). User name and
/// password never appear.
pub(super) fn url_hint(url: &Url) -> String {
    let mut hint = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        hint.push_str(&format!(":{port}"));
    }
    let mut rest = url.path().to_owned();
    if let Some(query) = url.query() {
        rest.push('?');
        rest.push_str(query);
    }
    if rest.is_empty() || rest == "/" {
        hint.push('/');
    } else {
        hint.push_str("/…");
        hint.push_str(&last4(&rest));
    }
    hint
}

/// The last 4 characters of `s` (all of it when shorter).
pub(super) fn last4(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(4)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hint_keeps_the_host_and_the_last_four_characters() {
        let url =
            Url::parse("https://hooks.slack.com/services/T0123/B0456/7IsoQTrixdUtE971O1xQTm4T").unwrap();
        assert_eq!(url_hint(&url), "https://hooks.slack.com/…Tm4T");
        let url = Url::parse("http://user:pw@127.0.0.1:8080/hook?token=abcdef").unwrap();
        assert_eq!(url_hint(&url), "http://127.0.0.1:8080/…cdef");
        let url = Url::parse("https://example.com").unwrap();
        assert_eq!(url_hint(&url), "https://example.com/");
    }

    #[test]
    fn http_url_rejects_other_schemes_and_relative_urls() {
        assert!(http_url("url", "https://example.com/x").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "/hook",
            "mailto:a@b.c",
            "http://",
        ] {
            assert_eq!(
                http_url("url", bad).unwrap_err(),
                "url: must be an http:// or https:// URL",
                "{bad}"
            );
        }
    }
}
