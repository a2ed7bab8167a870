//! The issue search syntax of the search box and the `query` parameter, Sentry-style:
//!
//! ```text
//! is:unresolved level:error environment:production first_seen:-24h browser:"Chrome 120" timeout
//! ```
//!
//! - `is:unresolved|resolved|ignored` (status) and `is:assigned|unassigned`;
//! - `level:`, `environment:`, `release:`;
//! - `assigned:me|none|<email>|<user id>`;
//! - `first_seen:` / `last_seen:` (aliases `age:`, `firstSeen:`, `lastSeen:`) with `-24h` (within
//!   the last 24 hours; units `s`, `m`, `h`, `d`, `w`), `+24h` (longer ago than that), `>DATE`,
//!   `>=DATE`, `<DATE`, `<=DATE` (`2026-01-01` is midnight UTC; RFC 3339 date-times), or a bare
//!   `DATE` for that whole UTC day;
//! - any other `key:value` is a tag filter (exact value);
//! - values and words may be quoted (`"a b"`, with `\"` and `\\` escapes);
//! - everything else is full text: every word must occur in the title, culprit or message.
//!
//! Parsing is pure: no clock, no store. Relative times stay relative in [`Search`] and become
//! absolute in [`Search::first_seen_range`] / [`Search::last_seen_range`], which take `now_ms`;
//! `assigned:me` and emails are resolved to users by the caller. [`Search::to_string`] renders the
//! canonical form, which parses back to the same `Search`.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat};
use sentinel_protocol::event::Level;
use sentinel_store::{IssueStatus, TimeRange};

const DAY_MS: i64 = 86_400_000;
/// Relative times reach at most this far back; more is surely a typo.
const MAX_SPAN_MS: i64 = 100 * 366 * DAY_MS;

/// A parsed search. Empty fields filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub status: Option<IssueStatus>,
    pub assigned: Option<Assigned>,
    pub level: Option<Level>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// Every bound must hold.
    pub first_seen: Vec<TimeBound>,
    pub last_seen: Vec<TimeBound>,
    /// `key:value` pairs, in the order given, without duplicates.
    pub tags: Vec<(String, String)>,
    /// Full-text terms (a quoted phrase is one term), in the order given.
    pub text: Vec<String>,
}

/// Whom an issue is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// `is:assigned`: to anybody.
    Anybody,
    /// `is:unassigned`, `assigned:none`.
    Nobody,
    /// `assigned:me`: the caller.
    Me,
    /// `assigned:jane@example.com`, lower-cased.
    Email(String),
    /// `assigned:42`: a user id.
    User(i64),
}

/// A time unit of relative bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl Unit {
    fn ms(self) -> i64 {
        match self {
            Unit::Seconds => 1_000,
            Unit::Minutes => 60_000,
            Unit::Hours => 3_600_000,
            Unit::Days => DAY_MS,
            Unit::Weeks => 7 * DAY_MS,
        }
    }

    fn suffix(self) -> char {
        match self {
            Unit::Seconds => 's',
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
            Unit::Weeks => 'w',
        }
    }

    fn from_suffix(c: char) -> Option<Unit> {
        Some(match c {
            's' => Unit::Seconds,
            'm' => Unit::Minutes,
            'h' => Unit::Hours,
            'd' => Unit::Days,
            'w' => Unit::Weeks,
            _ => return None,
        })
    }
}

/// A duration as written (`90m` stays `90m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub amount: u32,
    pub unit: Unit,
}

impl Span {
    pub fn ms(self) -> i64 {
        i64::from(self.amount) * self.unit.ms()
    }
}

/// One condition on a first/last-seen time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// `-24h`: within the last 24 hours.
    Within(Span),
    /// `+24h`: longer ago than 24 hours.
    OlderThan(Span),
    /// `>T` (`inclusive`: `>=T`), epoch milliseconds.
    After { ms: i64, inclusive: bool },
    /// `<T` (`inclusive`: `<=T`), epoch milliseconds.
    Before { ms: i64, inclusive: bool },
    /// A bare date: that UTC day; `ms` is its midnight.
    OnDay { ms: i64 },
}

impl TimeBound {
    /// The bound as `[since, until)` at `now_ms`.
    fn range(self, now_ms: i64) -> TimeRange {
        let (since_ms, until_ms) = match self {
            TimeBound::Within(span) => (Some(now_ms.saturating_sub(span.ms())), None),
            TimeBound::OlderThan(span) => (None, Some(now_ms.saturating_sub(span.ms()))),
            TimeBound::After { ms, inclusive } => {
                (Some(if inclusive { ms } else { ms.saturating_add(1) }), None)
            }
            TimeBound::Before { ms, inclusive } => {
                (None, Some(if inclusive { ms.saturating_add(1) } else { ms }))
            }
            TimeBound::OnDay { ms } => (Some(ms), Some(ms.saturating_add(DAY_MS))),
        };
        TimeRange { since_ms, until_ms }
    }
}

/// The intersection of every bound at `now_ms`.
fn intersect(bounds: &[TimeBound], now_ms: i64) -> TimeRange {
    bounds.iter().fold(TimeRange::default(), |acc, b| {
        let r = b.range(now_ms);
        TimeRange {
            since_ms: tighter(acc.since_ms, r.since_ms, i64::max),
            until_ms: tighter(acc.until_ms, r.until_ms, i64::min),
        }
    })
}

/// The tighter of two optional bounds (`pick` chooses between two present ones).
fn tighter(a: Option<i64>, b: Option<i64>, pick: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

impl Search {
    /// The first-seen window at `now_ms` (`[since, until)`).
    pub fn first_seen_range(&self, now_ms: i64) -> TimeRange {
        intersect(&self.first_seen, now_ms)
    }

    /// The last-seen window at `now_ms` (`[since, until)`).
    pub fn last_seen_range(&self, now_ms: i64) -> TimeRange {
        intersect(&self.last_seen, now_ms)
    }

    /// The full-text terms as one string for the store (`None` when there are none).
    pub fn text_query(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.join(" "))
    }

    pub fn is_empty(&self) -> bool {
        *self == Search::default()
    }
}

/// Parses a search. Errors name the offending term and what was expected.
pub fn parse(input: &str) -> Result<Search, String> {
    let mut search = Search::default();
    for token in tokenize(input)? {
        match token {
            Token::Text(t) => search.text.push(t),
            Token::Filter { key, value } => apply(&mut search, &key, value)?,
        }
    }
    Ok(search)
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Text(String),
    Filter { key: String, value: String },
}

/// Splits on whitespace outside quotes into words, quoted phrases and `key:value` filters.
fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        if first == '"' {
            chars.next();
            let phrase = quoted(&mut chars)?;
            expect_separator(&mut chars, &format!("\"{phrase}\""))?;
            if !phrase.trim().is_empty() {
                out.push(Token::Text(phrase));
            }
            continue;
        }
        // A bare run up to whitespace, a colon or a quote.
        let mut head = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != ':' && *c != '"') {
            head.push(c);
        }
        match chars.peek() {
            Some(':') if is_key(&head) => {
                chars.next();
                let value = if chars.next_if_eq(&'"').is_some() {
                    let v = quoted(&mut chars)?;
                    expect_separator(&mut chars, &format!("{head}:\"{v}\""))?;
                    v
                } else {
                    let mut v = String::new();
                    while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                        v.push(c);
                    }
                    if v.is_empty() {
                        return Err(format!("missing value after \"{head}:\""));
                    }
                    v
                };
                out.push(Token::Filter { key: head, value });
            }
            Some(':') if head.starts_with('!') && is_key(&head[1..]) => {
                return Err(format!(
                    "negated filters are not supported: \"{head}:…\"; search for what to include instead"
                ));
            }
            _ => {
                // A plain word; quotes and colons inside it are part of it.
                let mut word = head;
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
                out.push(Token::Text(word));
            }
        }
    }
}

/// Filter keys: letters, digits, `_`, `.`, `-`, starting with a letter, digit or `_`.
fn is_key(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Reads up to the closing quote (the opening one is consumed), resolving `\"` and `\\`.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut s = String::new();
    loop {
        match chars.next() {
            None => return Err(format!("unterminated quote: \"{s}")),
            Some('"') => return Ok(s),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\')) => s.push(c),
                Some(c) => {
                    s.push('\\');
                    s.push(c);
                }
                None => return Err(format!("unterminated quote: \"{s}\\")),
            },
            Some(c) => s.push(c),
        }
    }
}

fn expect_separator(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, what: &str) -> Result<(), String> {
    match chars.peek() {
        None => Ok(()),
        Some(c) if c.is_whitespace() => Ok(()),
        Some(_) => {
            let rest: String = chars.take_while(|c| !c.is_whitespace()).collect();
            Err(format!(
                "unexpected \"{rest}\" right after {what}: put a space between terms"
            ))
        }
    }
}

fn apply(search: &mut Search, key: &str, value: String) -> Result<(), String> {
    match key {
        "is" => match value.to_ascii_lowercase().as_str() {
            "unresolved" => set(&mut search.status, IssueStatus::Unresolved, "is", |s| {
                s.as_str().into()
            }),
            "resolved" => set(&mut search.status, IssueStatus::Resolved, "is", |s| {
                s.as_str().into()
            }),
            "ignored" => set(&mut search.status, IssueStatus::Ignored, "is", |s| {
                s.as_str().into()
            }),
            "assigned" => set(
                &mut search.assigned,
                Assigned::Anybody,
                "assigned",
                render_assigned,
            ),
            "unassigned" => set(
                &mut search.assigned,
                Assigned::Nobody,
                "assigned",
                render_assigned,
            ),
            _ => Err(format!(
                "invalid is:{}: expected unresolved, resolved, ignored, assigned or unassigned",
                quote_if_needed(&value)
            )),
        },
        "level" => {
            let level = Level::parse(&value.to_ascii_lowercase()).ok_or_else(|| {
                format!(
                    "invalid level {}: expected debug, info, warning, error or fatal",
                    quote(&value)
                )
            })?;
            set(&mut search.level, level, "level", |l| l.as_str().into())
        }
        "environment" => set(&mut search.environment, value, "environment", |v| {
            quote_if_needed(v)
        }),
        "release" => set(&mut search.release, value, "release", |v| quote_if_needed(v)),
        "assigned" => {
            let assigned = parse_assigned(&value)?;
            set(&mut search.assigned, assigned, "assigned", render_assigned)
        }
        "first_seen" | "firstSeen" | "age" => {
            search.first_seen.push(parse_time(key, &value)?);
            Ok(())
        }
        "last_seen" | "lastSeen" => {
            search.last_seen.push(parse_time(key, &value)?);
            Ok(())
        }
        tag => {
            if let Some((_, earlier)) = search.tags.iter().find(|(k, _)| k == tag) {
                if *earlier == value {
                    return Ok(());
                }
                return Err(format!(
                    "conflicting filters {tag}:{} and {tag}:{}: an issue matches both only if it has seen both values; \
                     one value per tag is supported",
                    quote_if_needed(earlier),
                    quote_if_needed(&value)
                ));
            }
            search.tags.push((tag.to_owned(), value));
            Ok(())
        }
    }
}

/// Sets a single-valued filter; the same value twice is fine, two different ones are an error.
fn set<T: PartialEq>(
    slot: &mut Option<T>,
    value: T,
    key: &str,
    show: fn(&T) -> String,
) -> Result<(), String> {
    match slot {
        Some(old) if *old != value => Err(format!(
            "conflicting filters {key}:{} and {key}:{}: give one",
            show(old),
            show(&value)
        )),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn parse_assigned(value: &str) -> Result<Assigned, String> {
    let lower = value.to_lowercase();
    match lower.as_str() {
        "me" => Ok(Assigned::Me),
        "none" => Ok(Assigned::Nobody),
        v if v.contains('@') => Ok(Assigned::Email(lower)),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Assigned::User)
            .ok_or_else(|| {
                format!(
                    "invalid assigned:{}: expected me, none, an email or a user id",
                    quote_if_needed(value)
                )
            }),
    }
}

fn parse_time(key: &str, value: &str) -> Result<TimeBound, String> {
    let err = || {
        format!(
            "invalid {key}:{}: expected -24h (within the last 24 hours), +24h (longer ago), \
             >2026-01-01, <2026-01-01T10:00:00Z or a date; units s, m, h, d, w",
            quote_if_needed(value)
        )
    };
    if let Some(rest) = value.strip_prefix('-') {
        return Ok(TimeBound::Within(parse_span(key, value, rest).ok_or_else(err)??));
    }
    if let Some(rest) = value.strip_prefix('+') {
        return Ok(TimeBound::OlderThan(
            parse_span(key, value, rest).ok_or_else(err)??,
        ));
    }
    let (op, rest) = [">=", "<=", ">", "<"]
        .into_iter()
        .find_map(|op| value.strip_prefix(op).map(|rest| (op, rest)))
        .unwrap_or(("", value));
    let ms = parse_instant(rest).ok_or_else(err)?;
    Ok(match op {
        ">=" => TimeBound::After { ms, inclusive: true },
        ">" => TimeBound::After { ms, inclusive: false },
        "<=" => TimeBound::Before { ms, inclusive: true },
        "<" => TimeBound::Before { ms, inclusive: false },
        _ if rest.len() == 10 => TimeBound::OnDay { ms },
        // A bare date-time names an instant, not a range.
        _ => return Err(err()),
    })
}

/// `24h` → a span; `None` if it is not one, `Some(Err)` if it is one but too long.
fn parse_span(key: &str, value: &str, s: &str) -> Option<Result<Span, String>> {
    let unit = Unit::from_suffix(s.chars().last()?)?;
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let Some(amount) = digits
        .parse::<u32>()
        .ok()
        .filter(|a| i64::from(*a) * unit.ms() <= MAX_SPAN_MS)
    else {
        return Some(Err(format!("{key}:{value} reaches back more than 100 years")));
    };
    Some(Ok(Span { amount, unit }))
}

/// `2026-01-01` (midnight UTC), RFC 3339 with offset, or a date-time without offset (UTC); years
/// 0000 to 9999, written with four digits.
fn parse_instant(s: &str) -> Option<i64> {
    if s.len() < 10 || !s.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if s.len() == 10 {
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .into_iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

fn render_instant(ms: i64) -> String {
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    if ms.rem_euclid(DAY_MS) == 0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

fn render_time(b: &TimeBound) -> String {
    match *b {
        TimeBound::Within(s) => format!("-{}{}", s.amount, s.unit.suffix()),
        TimeBound::OlderThan(s) => format!("+{}{}", s.amount, s.unit.suffix()),
        TimeBound::After { ms, inclusive } => {
            format!(">{}{}", if inclusive { "=" } else { "" }, render_instant(ms))
        }
        TimeBound::Before { ms, inclusive } => {
            format!("<{}{}", if inclusive { "=" } else { "" }, render_instant(ms))
        }
        TimeBound::OnDay { ms } => render_instant(ms),
    }
}

fn render_assigned(a: &Assigned) -> String {
    match a {
        Assigned::Anybody => "is:assigned".into(),
        Assigned::Nobody => "is:unassigned".into(),
        Assigned::Me => "assigned:me".into(),
        Assigned::Email(e) => format!("assigned:{}", quote_if_needed(e)),
        Assigned::User(id) => format!("assigned:{id}"),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Values that would not read back as one plain value get quotes.
fn quote_if_needed(s: &str) -> String {
    if s.is_empty() || s.starts_with('"') || s.chars().any(char::is_whitespace) {
        quote(s)
    } else {
        s.to_owned()
    }
}

/// Text terms that would read back as filters, several words or a phrase get quotes.
fn render_text(s: &str) -> String {
    if s.is_empty() || s.contains(['"', ':']) || s.chars().any(char::is_whitespace) {
        quote(s)
    } else {
        s.to_owned()
    }
}

/// The canonical form: filters in a fixed order (status, assignee, level, environment, release,
/// first seen, last seen, tags), then the text; parsing it gives back the same `Search`.
impl fmt::Display for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = Vec::new();
        if let Some(s) = self.status {
            terms.push(format!("is:{}", s.as_str()));
        }
        if let Some(a) = &self.assigned {
            terms.push(render_assigned(a));
        }
        if let Some(l) = self.level {
            terms.push(format!("level:{}", l.as_str()));
        }
        if let Some(e) = &self.environment {
            terms.push(format!("environment:{}", quote_if_needed(e)));
        }
        if let Some(r) = &self.release {
            terms.push(format!("release:{}", quote_if_needed(r)));
        }
        terms.extend(
            self.first_seen
                .iter()
                .map(|b| format!("first_seen:{}", render_time(b))),
        );
        terms.extend(
            self.last_seen
                .iter()
                .map(|b| format!("last_seen:{}", render_time(b))),
        );
        terms.extend(
            self.tags
                .iter()
                .map(|(k, v)| format!("{k}:{}", quote_if_needed(v))),
        );
        terms.extend(self.text.iter().map(|t| render_text(t)));
        f.write_str(&terms.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn ok(q: &str) -> Search {
        parse(q).unwrap_or_else(|e| panic!("{q:?} should parse: {e}"))
    }

    fn err(q: &str) -> String {
        parse(q).expect_err(q)
    }

    #[test]
    fn an_empty_query_filters_nothing() {
        assert!(ok("").is_empty());
        assert!(ok("   \t ").is_empty());
        assert_eq!(ok("").to_string(), "");
    }

    #[test]
    fn is_sets_status_and_assignment() {
        let s = ok("is:resolved is:unassigned");
        assert_eq!(s.status, Some(IssueStatus::Resolved));
        assert_eq!(s.assigned, Some(Assigned::Nobody));
        assert_eq!(ok("is:Ignored is:assigned").assigned, Some(Assigned::Anybody));
        assert_eq!(ok("is:unresolved").status, Some(IssueStatus::Unresolved));
    }

    #[test]
    fn unknown_is_values_list_the_expected_ones() {
        assert_eq!(
            err("is:open"),
            "invalid is:open: expected unresolved, resolved, ignored, assigned or unassigned"
        );
    }

    #[test]
    fn level_environment_and_release_are_filters() {
        let s = ok("level:error environment:prod release:1.2.3");
        assert_eq!(s.level, Some(Level::Error));
        assert_eq!(s.environment.as_deref(), Some("prod"));
        assert_eq!(s.release.as_deref(), Some("1.2.3"));
        assert!(s.tags.is_empty() && s.text.is_empty());
    }

    #[test]
    fn an_invalid_level_says_what_is_expected() {
        assert_eq!(
            err("level:x"),
            "invalid level \"x\": expected debug, info, warning, error or fatal"
        );
    }

    #[test]
    fn assigned_takes_me_none_emails_and_ids() {
        assert_eq!(ok("assigned:me").assigned, Some(Assigned::Me));
        assert_eq!(ok("assigned:none").assigned, Some(Assigned::Nobody));
        assert_eq!(
            ok("assigned:Jane@Example.com").assigned,
            Some(Assigned::Email("jane@example.com".into()))
        );
        assert_eq!(ok("assigned:42").assigned, Some(Assigned::User(42)));
        assert_eq!(
            err("assigned:jane"),
            "invalid assigned:jane: expected me, none, an email or a user id"
        );
    }

    #[test]
    fn conflicting_single_filters_are_rejected_and_repeats_are_not() {
        assert_eq!(
            err("level:error level:fatal"),
            "conflicting filters level:error and level:fatal: give one"
        );
        assert_eq!(ok("level:error level:error").level, Some(Level::Error));
        assert!(err("is:assigned assigned:none").contains("conflicting filters"));
        assert!(err("browser:a browser:b").contains("one value per tag"));
    }

    #[test]
    fn relative_times_are_within_or_older_than() {
        let s = ok("first_seen:-24h last_seen:+7d");
        assert_eq!(
            s.first_seen_range(NOW),
            TimeRange {
                since_ms: Some(NOW - 24 * 3_600_000),
                until_ms: None
            }
        );
        assert_eq!(
            s.last_seen_range(NOW),
            TimeRange {
                since_ms: None,
                until_ms: Some(NOW - 7 * DAY_MS)
            }
        );
        assert_eq!(
            ok("age:-30m").first_seen,
            vec![TimeBound::Within(Span {
                amount: 30,
                unit: Unit::Minutes
            })]
        );
        assert_eq!(ok("firstSeen:-2w").first_seen.len(), 1);
        assert_eq!(ok("lastSeen:-10s").last_seen.len(), 1);
    }

    #[test]
    fn absolute_times_bound_the_range() {
        let jan1 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let s = ok("first_seen:>2026-01-01 first_seen:<2026-01-01T10:00:00Z");
        assert_eq!(
            s.first_seen_range(NOW),
            TimeRange {
                since_ms: Some(jan1 + 1),
                until_ms: Some(jan1 + 10 * 3_600_000)
            }
        );
        let s = ok("last_seen:>=2026-01-01 last_seen:<=2026-01-02");
        assert_eq!(
            s.last_seen_range(NOW),
            TimeRange {
                since_ms: Some(jan1),
                until_ms: Some(jan1 + DAY_MS + 1)
            }
        );
        assert_eq!(
            ok("last_seen:2026-01-01").last_seen_range(NOW),
            TimeRange {
                since_ms: Some(jan1),
                until_ms: Some(jan1 + DAY_MS)
            }
        );
        assert_eq!(
            ok("first_seen:>2026-01-01T02:00:00+02:00")
                .first_seen_range(NOW)
                .since_ms,
            Some(jan1 + 1)
        );
    }

    #[test]
    fn several_time_bounds_intersect() {
        let s = ok("first_seen:-7d first_seen:-1d first_seen:+1h");
        assert_eq!(
            s.first_seen_range(NOW),
            TimeRange {
                since_ms: Some(NOW - DAY_MS),
                until_ms: Some(NOW - 3_600_000)
            }
        );
    }

    #[test]
    fn bad_times_explain_the_accepted_forms() {
        for q in [
            "first_seen:yesterday",
            "age:-24y",
            "last_seen:>2026-13-01",
            "first_seen:-h",
            "age:2026-01-01T10:00:00Z",
        ] {
            let e = err(q);
            assert!(e.contains("expected -24h"), "{q}: {e}");
        }
        assert_eq!(
            err("age:-99999999w"),
            "age:-99999999w reaches back more than 100 years"
        );
    }

    #[test]
    fn other_keys_are_tag_filters_and_values_may_be_quoted() {
        let s = ok(r#"browser:"Chrome 120" url:https://x.example/a?b=c tag:"say \"hi\"""#);
        assert_eq!(
            s.tags,
            vec![
                ("browser".into(), "Chrome 120".into()),
                ("url".into(), "https://x.example/a?b=c".into()),
                ("tag".into(), "say \"hi\"".into()),
            ]
        );
        assert!(s.text.is_empty());
    }

    #[test]
    fn remaining_words_and_phrases_are_full_text() {
        let s = ok(r#"TypeError "cannot read" level:error handleClick"#);
        assert_eq!(s.text, vec!["TypeError", "cannot read", "handleClick"]);
        assert_eq!(
            s.text_query().as_deref(),
            Some("TypeError cannot read handleClick")
        );
        assert_eq!(ok(":colon first").text, vec![":colon", "first"]);
    }

    #[test]
    fn quoting_mistakes_are_reported() {
        assert_eq!(err(r#"browser:"Chrome"#), "unterminated quote: \"Chrome");
        assert_eq!(
            err(r#"browser:"Chrome"120"#),
            "unexpected \"120\" right after browser:\"Chrome\": put a space between terms"
        );
        assert_eq!(err("browser:"), "missing value after \"browser:\"");
        assert!(err("!level:error").starts_with("negated filters are not supported"));
    }

    #[test]
    fn the_canonical_form_orders_filters_and_quotes_what_needs_it() {
        let s = ok(r#"crash browser:"Chrome 120" age:-24h level:ERROR is:resolved assigned:ME "a:b""#);
        assert_eq!(
            s.to_string(),
            r#"is:resolved assigned:me level:error first_seen:-24h browser:"Chrome 120" crash "a:b""#
        );
        assert_eq!(ok(&s.to_string()), s);
        assert_eq!(
            ok("first_seen:>2026-01-01T10:00:00.5Z last_seen:<=2026-01-01").to_string(),
            "first_seen:>2026-01-01T10:00:00.500Z last_seen:<=2026-01-01"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in any::<String>()) {
            let _ = parse(&input);
        }

        #[test]
        fn search_like_input_never_panics(input in r#"([a-zA-Z_!:"<>=+\-. 0-9@\\]|is:|age:|level:|first_seen:){0,40}"#) {
            if let Ok(s) = parse(&input) {
                let _ = s.first_seen_range(NOW);
                let _ = s.last_seen_range(i64::MIN);
                let _ = s.last_seen_range(i64::MAX);
            }
        }

        #[test]
        fn the_canonical_form_parses_back_to_the_same_search(input in r#"([a-zA-Z_!:"<>=+\-. 0-9@\\]|is:|age:|level:|assigned:|first_seen:-|last_seen:<2026-01-0){0,40}"#) {
            if let Ok(s) = parse(&input) {
                let rendered = s.to_string();
                prop_assert_eq!(parse(&rendered), Ok(s), "rendered as {:?}", rendered);
            }
        }

        #[test]
        fn quoted_tag_values_round_trip(key in "[a-z][a-z0-9_.]{0,10}", value in "\\PC{1,30}") {
            prop_assume!(!["is", "level", "environment", "release", "assigned", "first_seen", "firstSeen", "age", "last_seen", "lastSeen"].contains(&key.as_str()));
            let s = Search { tags: vec![(key.clone(), value.clone())], ..Search::default() };
            prop_assert_eq!(parse(&s.to_string()), Ok(s));
        }
    }
}
