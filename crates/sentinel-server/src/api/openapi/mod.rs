//! The OpenAPI 3.1 document of Sentinel's HTTP API, served at `GET /api/0/openapi.json`.
//!
//! Built from one table ([`OPERATIONS`]) and one set of schemas rather than with `utoipa`
//! annotations: the handlers live in a dozen modules that change together, and annotating each
//! (and deriving `ToSchema` on every JSON type) would spread the document over all of them for
//! little gain, since the response types are plain `Serialize` structs. The table is kept honest
//! by `tests/issues_api.rs`: it probes every route the router registers and every documented one,
//! and fails when either side has an entry the other lacks. The unit tests below check that every
//! `$ref` resolves and every path parameter is described.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::AppState;

mod operations;
mod schemas;

pub use operations::OPERATIONS;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// `Authorization: Bearer` with a personal API token or an access token; the text says which
    /// role and scope the operation needs.
    Bearer(&'static str),
    /// A DSN public key (`X-Sentry-Auth` header or `sentry_key` query parameter).
    SentryKey,
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200 with a schema from `components.schemas`.
    Json(&'static str),
    /// 201 with a schema.
    Created(&'static str),
    /// 202 with a schema: queued, done later.
    Accepted(&'static str),
    /// 200 with an array of a schema.
    List(&'static str),
    /// 200 with one page of a schema: `{data, pagination}`.
    Page(&'static str),
    /// 204.
    Empty,
    /// 200 with the stored bytes.
    Bytes,
    /// 200 with plain text.
    Text,
    /// 200 with an SVG image.
    Svg,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub doc: &'static str,
    /// `string` or `integer`.
    pub ty: &'static str,
    /// May be given several times (`?id=1&id=2`).
    pub repeated: bool,
    pub required: bool,
}

/// One operation of the API.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub doc: &'static str,
    pub auth: Auth,
    pub query: &'static [Param],
    /// Request body schema (JSON).
    pub body: Option<&'static str>,
    pub reply: Reply,
}

fn path_param_doc(name: &str) -> (&'static str, &'static str) {
    match name {
        "project_id" => ("integer", "Project id."),
        "issue_id" => ("integer", "Issue id."),
        "event_id" => ("string", "Event id: 32 hex digits or a dashed UUID."),
        "attachment_id" => ("integer", "Attachment id, from the event's `attachments`."),
        "org" => ("string", "Organization slug."),
        "user_id" => ("integer", "The member's user id."),
        "invitation_id" => ("integer", "Invitation id."),
        "key_id" => ("integer", "Key id."),
        "token_id" => ("integer", "Token id."),
        "channel_id" => ("integer", "Notification channel id."),
        "rule_id" => ("integer", "Alert rule id."),
        "monitor_id" => ("integer", "Uptime monitor id."),
        "tenant" => ("string", "Tenant id as sent in request events, URL-encoded."),
        "version" => ("string", "Release version, URL-encoded."),
        "slug" => ("string", "The heartbeat or cron monitor's slug."),
        "window_id" => ("integer", "Maintenance window id."),
        "org_slug" => ("string", "Organization slug."),
        "project_slug" => ("string", "Project slug."),
        "key" => ("string", "The project's public (DSN) key."),
        _ => ("string", ""),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let (ty, doc) = path_param_doc(name);
            json!({"name": name, "in": "path", "required": true, "description": doc, "schema": {"type": ty}})
        })
        .collect();
    params.extend(op.query.iter().map(|p| {
        let schema = if p.repeated {
            json!({"type": "array", "items": {"type": p.ty}})
        } else {
            json!({"type": p.ty})
        };
        json!({
            "name": p.name, "in": "query", "required": p.required, "description": p.doc,
            "schema": schema, "explode": true,
        })
    }));
    let ok = match op.reply {
        Reply::Json(s) => (
            "200",
            json!({"description": "OK", "content": json_content(schema_ref(s))}),
        ),
        Reply::Created(s) => (
            "201",
            json!({"description": "Created", "content": json_content(schema_ref(s))}),
        ),
        Reply::Accepted(s) => (
            "202",
            json!({"description": "Accepted", "content": json_content(schema_ref(s))}),
        ),
        Reply::List(s) => (
            "200",
            json!({"description": "OK", "content": json_content(json!({"type": "array", "items": schema_ref(s)}))}),
        ),
        Reply::Page(s) => (
            "200",
            json!({"description": "One page", "content": json_content(json!({
                "type": "object",
                "required": ["data", "pagination"],
                "properties": {
                    "data": {"type": "array", "items": schema_ref(s)},
                    "pagination": schema_ref("Pagination"),
                },
            }))}),
        ),
        Reply::Empty => ("204", json!({"description": "Done"})),
        Reply::Bytes => (
            "200",
            json!({"description": "The bytes", "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}),
        ),
        Reply::Text => (
            "200",
            json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}),
        ),
        Reply::Svg => (
            "200",
            json!({"description": "An SVG image", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}),
        ),
    };
    let mut responses = Map::new();
    responses.insert(ok.0.into(), ok.1);
    responses.insert("4XX".into(), json!({"$ref": "#/components/responses/Error"}));
    let mut description = op.doc.to_owned();
    let security = match op.auth {
        Auth::Public => json!([]),
        Auth::Bearer(who) => {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str("**Who:** ");
            description.push_str(who);
            json!([{"bearer": []}])
        }
        Auth::SentryKey => json!([{"sentryKey": []}, {"sentryKeyQuery": []}]),
    };
    let mut out = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "parameters": params,
        "responses": responses,
        "security": security,
    });
    if !description.is_empty() {
        out["description"] = description.into();
    }
    if let Some(body) = op.body {
        let content = if body == "Envelope" {
            json!({"application/x-sentry-envelope": {"schema": schema_ref(body)}})
        } else {
            json_content(schema_ref(body))
        };
        // Logout's body is optional; every other body is required.
        out["requestBody"] = json!({"required": op.id != "logout", "content": content});
    }
    out
}

/// The whole document; `server_url` is the public base URL (with any path prefix).
pub fn build(server_url: &str) -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sentinel API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sentinel's management API (organizations, members, projects, keys, tokens, issues, \
                            events, releases, alerts) and, under the `sentry-ingest` tag, the Sentry protocol endpoints SDKs use. \
                            Errors answer `{\"detail\": \"…\"}`; lists that page answer `{data, pagination}`. \
                            Another organization's resource answers 404.",
        },
        "servers": [{"url": server_url}],
        "tags": [
            {"name": "auth", "description": "Access tokens for API clients."},
            {"name": "organizations"},
            {"name": "members", "description": "Members and invitations."},
            {"name": "projects"},
            {"name": "keys", "description": "DSN keys."},
            {"name": "tokens", "description": "Personal API tokens."},
            {"name": "issues", "description": "Search, status, assignee, comments, activity."},
            {"name": "events"},
            {"name": "releases", "description": "Releases and release health."},
            {"name": "alerts", "description": "Notification channels, alert rules and the delivery log, of projects and of the instance."},
            {"name": "uptime", "description": "Uptime monitors (HTTP(S), TCP), their checks and incidents."},
            {"name": "tenants", "description": "Tenant rankings and per-endpoint performance from request events."},
            {"name": "operations", "description": "Health, readiness, metrics, this document."},
            {"name": "sentry-ingest", "description": "The Sentry protocol, for SDKs; not a management API."},
        ],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token (`sntl_…`, scoped read/write/admin) or an access token \
                                    from `/api/auth/login` (`sna_…`).",
                },
                "sentryKey": {
                    "type": "apiKey", "in": "header", "name": "X-Sentry-Auth",
                    "description": "`Sentry sentry_key=<public key>, sentry_version=7`",
                },
                "sentryKeyQuery": {"type": "apiKey", "in": "query", "name": "sentry_key"},
            },
            "responses": {
                "Error": {
                    "description": "400 bad parameter, 401 no or bad credentials, 403 role or scope too low, \
                                    404 not found (or another organization's), 409 conflict, 429 rate limited \
                                    (with `Retry-After`).",
                    "content": json_content(schema_ref("Error")),
                },
            },
            "schemas": schemas::all(),
        },
    })
}

/// `GET /api/0/openapi.json`.
pub async fn document(State(app): State<AppState>) -> Json<Value> {
    Json(build(&app.settings.public_base_url()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = build("http://localhost:9000");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn operations_are_unique_and_their_path_parameters_described() {
        let mut ids = BTreeSet::new();
        let mut routes = BTreeSet::new();
        for op in OPERATIONS {
            assert!(ids.insert(op.id), "operation id {} twice", op.id);
            assert!(
                routes.insert((op.method, op.path)),
                "{} {} twice",
                op.method,
                op.path
            );
            assert!(["get", "post", "put", "delete", "patch"].contains(&op.method));
            for seg in op.path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        !path_param_doc(name).1.is_empty(),
                        "{}: undescribed {name}",
                        op.path
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_server_url() {
        let doc = build("https://errors.example.com/sentry");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "https://errors.example.com/sentry");
        assert_eq!(
            doc["paths"]["/api/0/issues/{issue_id}/"]["put"]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/IssueUpdate"
        );
        assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
    }
}
