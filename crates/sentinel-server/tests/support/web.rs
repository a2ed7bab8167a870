//! The dashboard as a browser without JavaScript sees it: a cookie-keeping client that does not
//! follow redirects, and the pages it gets.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sentinel_store::{NewUser, Store};

use super::api::PASSWORD;

/// A cookie-keeping HTTP client that does not follow redirects, like a browser with JS off.
///
/// Its fields are open for requests the methods do not cover (another `Origin`, a replayed
/// session).
pub struct Browser {
    pub http: reqwest::Client,
    /// The server's base URL, without a trailing slash.
    pub base: String,
    /// The cookies set so far, by name.
    pub cookies: HashMap<String, String>,
}

/// An answer of the dashboard: status, headers and the body as text.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header, or `""` when there is none.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the page's forms (hidden field or meta tag).
    pub fn csrf(&self) -> String {
        for marker in ["name=\"csrf\" value=\"", "name=\"csrf-token\" content=\""] {
            if let Some(i) = self.body.find(marker) {
                let rest = &self.body[i + marker.len()..];
                return rest[..rest.find('"').unwrap()].to_owned();
            }
        }
        panic!("no CSRF token on the page:\n{}", self.body)
    }
}

impl Browser {
    /// A browser without cookies for the server at `base_url`.
    pub fn new(base_url: String) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap(),
            base: base_url,
            cookies: HashMap::new(),
        }
    }

    /// The `Cookie` header of the next request.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        for c in resp.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    /// A GET with extra request headers, e.g. `hx-request`.
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.finish(resp).await
    }

    /// Posts a form as it is, without adding a CSRF token.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Posts a form with the CSRF token taken from the page at `from`.
    pub async fn submit(&mut self, from: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        self.post(path, &all).await
    }

    /// Submits the sign-in form; the answer (a redirect when it worked).
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("email", email), ("password", password)])
            .await
    }

    /// Sets up the first admin, Ann (`ann@example.com`, [`PASSWORD`]), through the first-run
    /// form; she is signed in here after.
    pub async fn setup_admin(&mut self) {
        let page = self
            .submit(
                "/setup",
                "/setup",
                &[
                    ("name", "Ann Admin"),
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    /// The outsider Mallory (`mallory@example.com`), owner of her own organization `mallory-org`
    /// with its project `app`, and member of no other, signed in on a new browser for the server
    /// at `base_url`. Her project lets a test ask for another project's data through hers.
    pub async fn outsider(base_url: String, store: &dyn Store) -> Browser {
        let hash = sentinel_server::auth::password::hash(PASSWORD.into())
            .await
            .unwrap();
        let mallory = store
            .create_user(
                &NewUser {
                    email: "mallory@example.com".into(),
                    name: "Mallory".into(),
                    password_hash: hash,
                    is_admin: false,
                },
                0,
            )
            .await
            .unwrap();
        store
            .create_organization("mallory-org", "Mallory's", mallory.id, 0)
            .await
            .unwrap();
        store
            .create_project(
                "mallory-org",
                "app",
                "other",
                "fedcba9876543210fedcba9876543210",
                0,
            )
            .await
            .unwrap();
        let mut m = Browser::new(base_url);
        let page = m.sign_in("mallory@example.com", PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        m
    }
}
