//! The tags Sentry shows and counts per issue: the event's own, plus those derived from its fields
//! (getsentry/sentry `event_manager.py` `set_tag` calls, `interfaces/contexts.py`
//! `context_to_tag_mapping`, `interfaces/exception.py` and `http.py` `iter_tags`, `EventUser.tag_value`).
//!
//! Validation follows Sentry and Relay: keys of 1–200 characters from `[a-zA-Z0-9_.:-]`, values of
//! 1–200 characters without a line break. Invalid tags are dropped rather than truncated, as
//! Sentry drops them (Relay `MaxChars::TagKey`/`TagValue` = 200, tagstore `is_valid_key`/`is_valid_value`).

use super::wire::{Context, Event, User};

/// Sentry's `MAX_TAG_KEY_LENGTH` and `MAX_TAG_VALUE_LENGTH`.
const MAX_TAG_KEY_CHARS: usize = 200;
const MAX_TAG_VALUE_CHARS: usize = 200;

/// Fields the derived tags come from, already normalized by the caller.
pub(super) struct Derived<'e> {
    pub(super) level: &'static str,
    pub(super) logger: Option<String>,
    pub(super) environment: Option<&'e str>,
    pub(super) release: Option<&'e str>,
    pub(super) dist: Option<&'e str>,
    pub(super) server_name: Option<&'e str>,
    pub(super) transaction: Option<&'e str>,
    pub(super) url: Option<&'e str>,
}

/// The event's tags: its own (the first of each key wins), overridden by the derived ones, invalid
/// ones dropped, sorted by key.
pub(super) fn build(event: &Event<'_>, derived: &Derived<'_>) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = Vec::with_capacity(event.tags.0.len() + 12);
    for (key, value) in &event.tags.0 {
        set(&mut tags, key, value, false);
    }

    let mut derive = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            set(&mut tags, key, value, true);
        }
    };
    derive("level", Some(derived.level));
    derive("logger", derived.logger.as_deref());
    derive("environment", derived.environment);
    derive("release", derived.release);
    derive("dist", derived.dist);
    derive("server_name", derived.server_name);
    derive("transaction", derived.transaction);
    derive("user", user_tag(&event.user).as_deref());
    derive("url", derived.url);

    if let Some(first) = event.exception.0.first() {
        let mechanism = &first.mechanism;
        derive("mechanism", mechanism.ty.non_empty());
        derive(
            "handled",
            mechanism.handled.0.map(|h| if h { "yes" } else { "no" }),
        );
    }

    for (alias, context) in &event.contexts.0 {
        for (suffix, value) in context_tags(alias, context) {
            let key = match suffix {
                Some(suffix) => format!("{alias}.{suffix}"),
                None => alias.to_string(),
            };
            derive(&key, Some(&value));
        }
    }

    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags
}

/// Adds a valid tag; an existing key keeps its value unless `overwrite`.
fn set(tags: &mut Vec<(String, String)>, key: &str, value: &str, overwrite: bool) {
    if !is_valid_key(key) || !is_valid_value(value) {
        return;
    }
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(existing) if overwrite => value.clone_into(&mut existing.1),
        Some(_) => {}
        None => tags.push((key.to_owned(), value.to_owned())),
    }
}

/// Sentry's `EventUser.tag_value`: the first of id, email, username and IP address.
fn user_tag(user: &User<'_>) -> Option<String> {
    if let Some(id) = user.id.non_empty() {
        return Some(format!("id:{id}"));
    }
    if let Some(email) = user.email.non_empty() {
        return Some(format!("email:{email}"));
    }
    if let Some(username) = user.username.non_empty() {
        return Some(format!("username:{username}"));
    }
    // `{{auto}}` asks the server to fill in the client address, which Sentinel does not record.
    user.ip_address
        .non_empty()
        .filter(|ip| *ip != "{{auto}}")
        .map(|ip| format!("ip:{ip}"))
}

/// The tags one context contributes, as `(suffix, value)`; `None` is the bare alias. The computed
/// `browser`/`os`/`runtime` fields are Relay's (`normalize/contexts.rs`): "name version".
fn context_tags(alias: &str, context: &Context<'_>) -> Vec<(Option<&'static str>, String)> {
    let ty = context.ty.non_empty().unwrap_or(alias);
    let name = context.name.non_empty();
    let version = context.version.non_empty();
    let name_version = || match (name, version) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.to_owned()),
        _ => None,
    };
    let computed = match ty {
        "browser" => context
            .browser
            .non_empty()
            .map(str::to_owned)
            .or_else(name_version),
        "os" => context.os.non_empty().map(str::to_owned).or_else(name_version),
        "runtime" => context
            .runtime
            .non_empty()
            .map(str::to_owned)
            .or_else(|| name.zip(version).map(|(n, v)| format!("{n} {v}"))),
        _ => return Vec::new(),
    };
    let mut out = Vec::with_capacity(2);
    if let Some(computed) = computed {
        out.push((None, computed));
    }
    if let Some(name) = name {
        out.push((Some("name"), name.to_owned()));
    }
    out
}

fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_TAG_KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn is_valid_value(value: &str) -> bool {
    !value.trim().is_empty() && !value.contains('\n') && value.chars().count() <= MAX_TAG_VALUE_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_of(json: &str) -> Vec<(String, String)> {
        let event: Event<'_> = serde_json::from_str(json).expect("valid JSON");
        let derived = Derived {
            level: "error",
            logger: None,
            environment: None,
            release: None,
            dist: None,
            server_name: None,
            transaction: None,
            url: None,
        };
        build(&event, &derived)
    }

    fn get<'t>(tags: &'t [(String, String)], key: &str) -> Option<&'t str> {
        tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn custom_tags_keep_the_first_value_of_a_key() {
        let tags = tags_of(r#"{"tags":[["a","1"],["a","2"],["b","x"]]}"#);
        assert_eq!(get(&tags, "a"), Some("1"));
        assert_eq!(get(&tags, "b"), Some("x"));
    }

    #[test]
    fn derived_tags_override_custom_ones() {
        let tags = tags_of(r#"{"tags":{"level":"custom"}}"#);
        assert_eq!(get(&tags, "level"), Some("error"));
    }

    #[test]
    fn invalid_tags_are_dropped() {
        let long = "v".repeat(201);
        let tags = tags_of(&format!(
            r#"{{"tags":{{"ok":"1","bad key":"x","empty":"","nl":"a\nb","long":"{long}","max":"{}"}}}}"#,
            "w".repeat(200)
        ));
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["level", "max", "ok"]);
    }

    #[test]
    fn user_tag_prefers_id_then_email_then_username_then_ip() {
        let t = |user: &str| {
            let tags = tags_of(&format!(r#"{{"user":{user}}}"#));
            get(&tags, "user").map(str::to_owned)
        };
        assert_eq!(t(r#"{"id":7,"email":"a@b.c"}"#).as_deref(), Some("id:7"));
        assert_eq!(
            t(r#"{"email":"a@b.c","username":"u"}"#).as_deref(),
            Some("email:a@b.c")
        );
        assert_eq!(
            t(r#"{"username":"u","ip_address":"1.2.3.4"}"#).as_deref(),
            Some("username:u")
        );
        assert_eq!(t(r#"{"ip_address":"1.2.3.4"}"#).as_deref(), Some("ip:1.2.3.4"));
        assert_eq!(t(r#"{"ip_address":"{{auto}}"}"#), None);
    }

    #[test]
    fn contexts_become_browser_os_and_runtime_tags() {
        let tags = tags_of(
            r#"{"contexts":{
                "browser":{"name":"Chrome","version":"120.0.6099"},
                "os":{"name":"Ubuntu"},
                "runtime":{"name":"CPython","version":"3.12.1"},
                "server-runtime":{"type":"runtime","name":".NET Core","version":"8.0"},
                "trace":{"trace_id":"abc"}}}"#,
        );
        assert_eq!(get(&tags, "browser"), Some("Chrome 120.0.6099"));
        assert_eq!(get(&tags, "browser.name"), Some("Chrome"));
        assert_eq!(get(&tags, "os"), Some("Ubuntu"));
        assert_eq!(get(&tags, "os.name"), Some("Ubuntu"));
        assert_eq!(get(&tags, "runtime"), Some("CPython 3.12.1"));
        assert_eq!(get(&tags, "server-runtime"), Some(".NET Core 8.0"));
        assert_eq!(get(&tags, "server-runtime.name"), Some(".NET Core"));
        assert_eq!(get(&tags, "trace"), None);
    }

    #[test]
    fn the_first_exception_mechanism_gives_handled_and_mechanism() {
        let tags = tags_of(
            r#"{"exception":{"values":[
                {"type":"A","mechanism":{"type":"django","handled":false}},
                {"type":"B","mechanism":{"type":"chained","handled":true}}]}}"#,
        );
        assert_eq!(get(&tags, "mechanism"), Some("django"));
        assert_eq!(get(&tags, "handled"), Some("no"));
    }

    #[test]
    fn tags_are_sorted_by_key() {
        let tags = tags_of(r#"{"tags":{"zeta":"1","alpha":"2"}}"#);
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["alpha", "level", "zeta"]);
    }
}
