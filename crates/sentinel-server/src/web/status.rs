//! The public status page as HTML: server-rendered, no JavaScript, its own minimal layout, for
//! anyone without signing in (`GET /status/{org}/{project}/`). The data, and what it must never
//! show, are `uptime::status`'s; this module only words and colours it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{WebError, render};
use crate::AppState;
use crate::uptime::badge::{Grade, percent_of, percent_text};
use crate::uptime::status::{StatusJson, cacheable, load};
use crate::uptime::verifier::duration_text;

/// A time for people: `2026-11-21 00:02 UTC`.
fn time_text(rfc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

struct DayView {
    grade: &'static str,
    title: String,
}

struct MonitorView {
    id: String,
    name: String,
    status: &'static str,
    uptime: String,
    days: Vec<DayView>,
}

struct IncidentView {
    monitor: String,
    opened: String,
    opened_text: String,
    resolved: String,
    resolved_text: String,
    duration: String,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    prefix: String,
    project: String,
    status: &'static str,
    headline: String,
    monitors: Vec<MonitorView>,
    incidents: Vec<IncidentView>,
    generated: String,
    generated_text: String,
}

impl StatusPage {
    fn new(prefix: String, s: StatusJson) -> StatusPage {
        let down = s.monitors.iter().filter(|m| m.status == "down").count();
        let headline = match s.status {
            "operational" => "All systems operational".to_owned(),
            "major_outage" => "Major outage: every service is down".to_owned(),
            _ => format!("Partial outage: {down} of {} down", s.monitors.len()),
        };
        StatusPage {
            prefix,
            project: s.project,
            status: s.status,
            headline,
            monitors: s
                .monitors
                .into_iter()
                .map(|m| MonitorView {
                    id: m.id,
                    name: m.name,
                    status: m.status,
                    uptime: m.uptime_90d.map(percent_text).unwrap_or_else(|| "—".into()),
                    days: m
                        .days
                        .into_iter()
                        .map(|d| {
                            let p = percent_of(d.checks, d.failures);
                            DayView {
                                grade: Grade::of(p).as_str(),
                                title: match p {
                                    None => format!("{}: no data", d.date),
                                    Some(p) => format!(
                                        "{}: {} ({} failed of {})",
                                        d.date,
                                        percent_text(p),
                                        d.failures,
                                        d.checks
                                    ),
                                },
                            }
                        })
                        .collect(),
                })
                .collect(),
            incidents: s
                .incidents
                .into_iter()
                .map(|i| IncidentView {
                    monitor: i.monitor,
                    opened_text: time_text(&i.opened),
                    opened: i.opened,
                    resolved_text: i.resolved.as_deref().map(time_text).unwrap_or_default(),
                    resolved: i.resolved.unwrap_or_default(),
                    duration: duration_text(i.duration_seconds * 1000),
                })
                .collect(),
            generated_text: time_text(&s.generated),
            generated: s.generated,
        }
    }
}

/// `GET /status/{org}/{project}/`.
pub async fn page(
    State(app): State<AppState>,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let status = load(&app, &org, &project).await?;
    let page = StatusPage::new(app.settings.path_prefix.clone(), status);
    Ok(cacheable(render(&page)?))
}
