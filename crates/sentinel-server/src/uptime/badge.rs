//! README badges of public monitors, and how uptime is written and graded wherever it is shown to
//! people (badges, the public status page, sparklines), so all of them agree.
//!
//! - `GET /api/0/monitors/{id}/badge.svg?type=status`: the monitor's name and `up`, `down`,
//!   `pending` or `paused`;
//! - `GET /api/0/monitors/{id}/badge.svg?type=uptime&period=24h|7d|30d|90d`: `uptime 24h` and
//!   `99.95%`.
//!
//! Flat, shields.io-style SVG, cacheable for a minute. Only monitors marked `public` have badges:
//! any other id answers 404, exactly like one that does not exist.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::AppState;
use crate::api::ApiError;
use crate::auth::access;
use crate::uptime::api::{shown_status_now, uptime_of};

/// The periods an uptime badge can cover, with their length in days.
const PERIODS: [(&str, i64); 4] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)];
const KINDS: [&str; 2] = ["status", "uptime"];
/// Longer monitor names are cut to this many characters (and an ellipsis) on the badge.
const MAX_LABEL_CHARS: usize = 40;

/// How good an uptime figure is: the colour of a status-page bar, a sparkline hour or a badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    /// No checks in the period.
    NoData,
    /// Every check passed.
    Up,
    /// At least 99 % passed.
    Degraded,
    /// Less than 99 % passed.
    Down,
}

impl Grade {
    pub fn of(percent: Option<f64>) -> Grade {
        match percent {
            None => Grade::NoData,
            Some(p) if p >= 100.0 => Grade::Up,
            Some(p) if p >= 99.0 => Grade::Degraded,
            Some(_) => Grade::Down,
        }
    }

    /// The CSS class suffix: `none`, `up`, `degraded`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::NoData => "none",
            Grade::Up => "up",
            Grade::Degraded => "degraded",
            Grade::Down => "down",
        }
    }

    /// The badge colour (shields.io's grey, bright green, yellow and red).
    fn color(self) -> &'static str {
        match self {
            Grade::NoData => "#9f9f9f",
            Grade::Up => "#4c1",
            Grade::Degraded => "#dfb317",
            Grade::Down => "#e05d44",
        }
    }
}

/// The share of `checks` that passed, in percent, unrounded (`None` without checks): a period
/// with a failure is always below 100.
pub fn percent_of(checks: u64, failures: u64) -> Option<f64> {
    (checks > 0).then(|| (checks - failures.min(checks)) as f64 * 100.0 / checks as f64)
}

/// An uptime percentage as people read it: `100%`, `99.31%`. Rounded to two decimals, except
/// that nothing below 100 is ever written as `100%`.
pub fn percent_text(percent: f64) -> String {
    if percent >= 100.0 {
        return "100%".into();
    }
    let hundredths = ((percent.max(0.0) * 100.0).round() as i64).min(9_999);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

#[derive(Debug, Default, Deserialize)]
pub struct BadgeParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    period: Option<String>,
}

/// `GET /api/0/monitors/{id}/badge.svg`: anyone may fetch the badge of a public monitor.
pub async fn badge(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(p): Query<BadgeParams>,
) -> Result<Response, ApiError> {
    let kind = p.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("status");
    if !KINDS.contains(&kind) {
        return Err(ApiError::BadRequest(format!(
            "invalid type {kind:?}: expected status or uptime"
        )));
    }
    let period = p.period.as_deref().filter(|v| !v.is_empty()).unwrap_or("24h");
    let Some(&(period, days)) = PERIODS.iter().find(|(name, _)| *name == period) else {
        return Err(ApiError::BadRequest(format!(
            "invalid period {period:?}: expected 24h, 7d, 30d or 90d"
        )));
    };
    let id = access::path_id("monitor", &raw)?;
    // Private and missing monitors answer alike, so a badge URL tells nothing about the others.
    let monitor = app
        .store
        .get_monitor(id)
        .await?
        .filter(|m| m.public)
        .ok_or_else(|| ApiError::NotFound(format!("monitor {id} not found")))?;
    let badge = if kind == "status" {
        let windows = app.store.list_maintenance(monitor.project_id).await?;
        let status = shown_status_now(&monitor, &windows, app.clock.now_ms());
        let grade = match status {
            "up" => Grade::Up,
            "down" => Grade::Down,
            _ => Grade::NoData,
        };
        Badge::new(&monitor.name, status, grade)
    } else {
        let figures = uptime_of(&app, &[monitor.id], &[days]).await?;
        let u = figures.get(&monitor.id);
        let percent = u.and_then(|u| match days {
            1 => u.day,
            7 => u.week,
            30 => u.month,
            _ => u.quarter,
        });
        let message = percent.map(percent_text).unwrap_or_else(|| "no data".into());
        Badge::new(&format!("uptime {period}"), &message, Grade::of(percent))
    };
    let svg = badge
        .render()
        .map_err(|e| ApiError::Internal(format!("rendering a badge: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        svg,
    )
        .into_response())
}

/// A flat two-part badge: grey label, coloured message. Sizes are in pixels; text positions are
/// in tenths of a pixel, as the template draws text at `scale(.1)` for sharper rendering.
#[derive(Debug, Template)]
#[template(path = "badge.svg")]
pub struct Badge {
    label: String,
    message: String,
    color: &'static str,
    label_width: u32,
    message_width: u32,
    width: u32,
    label_x: u32,
    message_x: u32,
    label_text: u32,
    message_text: u32,
}

impl Badge {
    pub fn new(label: &str, message: &str, grade: Grade) -> Badge {
        let label = shorten(label);
        let message = shorten(message);
        let (lt, mt) = (text_width(&label), text_width(&message));
        let (lw, mw) = (lt + 10, mt + 10);
        Badge {
            color: grade.color(),
            label_width: lw,
            message_width: mw,
            width: lw + mw,
            label_x: lw * 5,
            message_x: lw * 10 + mw * 5,
            label_text: lt * 10,
            message_text: mt * 10,
            label,
            message,
        }
    }
}

/// `text` without control characters (not allowed in XML even escaped), cut to
/// [`MAX_LABEL_CHARS`].
fn shorten(text: &str) -> String {
    let clean: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    if clean.len() <= MAX_LABEL_CHARS {
        return clean.into_iter().collect();
    }
    let mut s: String = clean[..MAX_LABEL_CHARS - 1].iter().collect();
    s.push('…');
    s
}

/// About how wide `text` is in 11 px Verdana, in whole pixels. The template stretches the text
/// to exactly this width (`textLength`), so an estimate only changes the padding a little.
fn text_width(text: &str) -> u32 {
    let tenths: u32 = text
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '\'' | '.' | ',' | ':' | ';' | '!' | '|' => 32,
            'f' | 't' | 'r' | 'I' | ' ' | '(' | ')' | '[' | ']' | '-' => 43,
            'm' | 'M' | 'W' | 'w' | '%' => 105,
            'A'..='Z' => 75,
            '0'..='9' => 70,
            c if c.is_ascii() => 66,
            // Wide scripts (CJK) are about square; other letters about as wide as capitals.
            c if c as u32 >= 0x2E80 => 110,
            _ => 75,
        })
        .sum();
    tenths.div_ceil(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_the_status_page_thresholds() {
        assert_eq!(Grade::of(None), Grade::NoData);
        assert_eq!(Grade::of(Some(100.0)), Grade::Up);
        assert_eq!(Grade::of(Some(99.0)), Grade::Degraded);
        assert_eq!(Grade::of(Some(98.999)), Grade::Down);
        assert_eq!(Grade::of(percent_of(432, 3)), Grade::Degraded);
        assert_eq!(Grade::of(percent_of(0, 0)), Grade::NoData);
    }

    #[test]
    fn a_period_with_a_failure_never_reads_100_percent() {
        assert_eq!(percent_text(100.0), "100%");
        assert_eq!(percent_text(percent_of(432, 3).unwrap()), "99.31%");
        assert_eq!(percent_text(percent_of(1_000_000, 1).unwrap()), "99.99%");
        assert_eq!(percent_text(99.95), "99.95%");
        assert_eq!(percent_text(0.0), "0.00%");
        assert_eq!(percent_text(7.5), "7.50%");
    }

    #[test]
    fn badge_text_is_escaped_and_sized_to_fit() {
        let svg = Badge::new("<script>\"shop\" & co</script>", "up", Grade::Up)
            .render()
            .unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&#60;script&#62;") || svg.contains("&lt;script&gt;"),
            "{svg}"
        );
        assert!(!svg.contains("\"shop\""), "{svg}");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.contains("fill=\"#4c1\""), "{svg}");
        let short = Badge::new("api", "up", Grade::Up);
        let long = Badge::new("checkout api of the shop", "up", Grade::Up);
        assert!(long.width > short.width);
        assert_eq!(short.width, short.label_width + short.message_width);
    }

    #[test]
    fn long_names_are_cut_and_control_characters_dropped() {
        let cut = shorten(&"x".repeat(100));
        assert_eq!(cut.chars().count(), MAX_LABEL_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("a\u{0}b\u{1b}c"), "abc");
    }
}
