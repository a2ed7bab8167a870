//! Sentry's built-in rules that change grouping for everyone, re-expressed as code.
//!
//! * Stack-trace rules (getsentry/sentry `src/sentry/grouping/enhancer/enhancement-configs/
//!   newstyle@2023-01-11.txt`, the "SDK specific rules" and Dart sections): `-app` marks frames of
//!   vendored and third-party code as not in-app, `-group` drops transpiler and runtime plumbing
//!   frames from grouping altogether. The native-platform rules (categories, signal handlers…) are
//!   not implemented: Sentinel does not symbolicate native crashes.
//! * Fingerprint rules for JavaScript (`src/sentry/grouping/fingerprinting/configs/
//!   javascript@2024-02-02/`): every `ChunkLoadError` is one issue, and React hydration errors are
//!   one issue per transaction.
//!
//! Like Sentry's, these rules override the SDK's `in_app`: that is their point for scripts served
//! from CDNs, which browser SDKs mark in-app. Frames whose SDK left `in_app` unset are not in-app.

use std::borrow::Cow;

use super::Input;
use super::frames::{Family, family};

/// What a frame looks like to the rules.
struct RuleFrame<'a> {
    family: Family,
    /// `abs_path` or else `filename`, lower-cased with backslashes read as slashes, as Sentry's
    /// path matcher compares (borrowed when that changes nothing, as for most Unix paths).
    path: Option<Cow<'a, str>>,
    module: Option<&'a str>,
    function: Option<&'a str>,
}

impl<'a> RuleFrame<'a> {
    fn new(
        platform: &str,
        path: Option<&'a str>,
        module: Option<&'a str>,
        function: Option<&'a str>,
    ) -> Self {
        let path = path.map(|p| {
            if p.bytes()
                .any(|b| b.is_ascii_uppercase() || b == b'\\' || !b.is_ascii())
            {
                Cow::Owned(p.to_lowercase().replace('\\', "/"))
            } else {
                Cow::Borrowed(p)
            }
        });
        RuleFrame {
            family: family(platform),
            path,
            module,
            function,
        }
    }

    fn path_contains(&self, needle: &str) -> bool {
        self.path.as_deref().is_some_and(|p| p.contains(needle))
    }

    fn path_starts_with(&self, prefix: &str) -> bool {
        self.path.as_deref().is_some_and(|p| p.starts_with(prefix))
    }

    /// `**/*name*/**`: a directory (not the file) whose name contains `name`.
    fn path_has_directory_containing(&self, name: &str) -> bool {
        let Some(path) = self.path.as_deref() else {
            return false;
        };
        if !path.contains(name) {
            return false;
        }
        let mut segments = path.split('/');
        segments.next();
        segments.rev().skip(1).any(|s| s.contains(name))
    }

    fn module_starts_with(&self, prefix: &str) -> bool {
        self.module.is_some_and(|m| m.starts_with(prefix))
    }

    fn function_is(&self, name: &str) -> bool {
        self.function == Some(name)
    }
}

/// `(not in-app, not grouped)` as decided by the built-in rules.
fn rules(frame: &RuleFrame<'_>) -> (bool, bool) {
    let js = frame.family == Family::JavaScript;
    let mut not_app = false;
    let mut not_grouped = false;

    // Dart/Flutter: SDK frames and the Sentry Dart packages.
    if js && frame.path_starts_with("org-dartlang-sdk:///") {
        not_app = true;
        not_grouped = true;
    }
    if js && frame.module.is_some_and(|m| m.contains("/packages/flutter/")) {
        not_app = true;
    }
    for package in [
        "package:sentry/",
        "package:sentry_flutter/",
        "package:sentry_logging/",
        "package:sentry_dio/",
        "package:sentry_file/",
        "package:sentry_hive/",
        "package:sentry_isar/",
        "package:sentry_sqflite/",
        "package:sentry_drift/",
    ] {
        if frame.path_starts_with(package) {
            not_app = true;
            not_grouped = true;
        }
    }

    // Vendored code and package managers' install directories.
    for dir in [
        "/vendor/",
        "/site-packages/",
        "/dist-packages/",
        "/node_modules/",
        "/go/pkg/mod/",
    ] {
        if frame.path_contains(dir) {
            not_app = true;
        }
    }

    // JavaScript CDNs.
    if frame.module_starts_with("unpkg/") {
        not_app = true;
    }
    for cdn in [
        "https://unpkg.com/",
        "https://cdnjs.cloudflare.com/",
        "https://cdn.jsdelivr.net/",
        "https://esm.run/",
    ] {
        if frame.path_contains(cdn) {
            not_app = true;
        }
    }
    if js && frame.function_is("reportError") {
        not_app = true;
    }

    // Transpiler helpers and polyfills.
    for module in ["@babel/", "core-js/", "regenerator-runtime/", "tslib/"] {
        if frame.module_starts_with(module) {
            not_app = true;
            not_grouped = true;
        }
    }
    if js && frame.function_is("_callSuper") {
        not_app = true;
        not_grouped = true;
    }

    // Node's task queue plumbing.
    for function in [
        "runMicrotasks",
        "queueMicrotask",
        "processTicksAndRejections",
        "runNextTicks",
        "nextTick",
    ] {
        if frame.function_is(function) {
            not_app = true;
            not_grouped = true;
        }
    }

    // JVM libraries.
    for module in [
        "jdk.",
        "sun.",
        "com.sun.",
        "java.",
        "scala.",
        "akka.",
        "javax.",
        "org.apache.",
        "org.springframework.",
        "org.glassfish.",
        "org.jboss.",
        "feign.",
        "io.opentelemetry.",
        "kotlin.",
        "kotlinx.",
        "io.ktor.",
        "io.netty.",
    ] {
        if frame.module_starts_with(module) {
            not_app = true;
        }
    }
    if frame.module_starts_with("io.sentry.") {
        not_app = true;
        not_grouped = true;
    }

    // Other monitoring agents.
    if frame.module == Some("newrelic")
        || frame.path_has_directory_containing("newrelic")
        || frame.path_has_directory_containing("logrocket")
    {
        not_app = true;
        not_grouped = true;
    }

    (not_app, not_grouped)
}

/// What the built-in rules decide for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameRules {
    /// A `-app` rule matched: the frame is not in-app, whatever the SDK said.
    pub(crate) library: bool,
    /// No `-group` rule matched: the frame takes part in grouping.
    pub(crate) grouped: bool,
}

impl FrameRules {
    /// The frame's effective `in_app`: false for libraries, else the SDK's flag, else false.
    pub(crate) fn in_app(self, sdk_in_app: Option<bool>) -> bool {
        !self.library && sdk_in_app.unwrap_or(false)
    }
}

/// Applies the built-in rules to one frame. `path` is the frame's `abs_path`, else its `filename`.
pub(crate) fn frame_rules(
    platform: &str,
    path: Option<&str>,
    module: Option<&str>,
    function: Option<&str>,
) -> FrameRules {
    let (library, not_grouped) = rules(&RuleFrame::new(platform, path, module, function));
    FrameRules {
        library,
        grouped: !not_grouped,
    }
}

const HYDRATION_MESSAGES: [&str; 5] = [
    "Hydration failed because the initial UI does not match what was rendered on the server.",
    "The server could not finish this Suspense boundary, likely due to an error during server rendering. Switched to client rendering.",
    "There was an error while hydrating this Suspense boundary. Switched to client rendering.",
    "There was an error while hydrating. Because the error happened outside of a Suspense boundary, the entire root will switch to client rendering.",
    "Text content does not match server-rendered HTML.",
];

/// The fingerprint one of Sentry's built-in JavaScript rules assigns, if one matches.
pub(super) fn builtin_fingerprint<'e>(input: &Input<'e>) -> Option<Vec<Cow<'e, str>>> {
    if family(input.platform) != Family::JavaScript {
        return None;
    }
    let chunk_load = input.exceptions.iter().any(|e| {
        e.ty == Some("ChunkLoadError")
            || e.value
                .is_some_and(|v| v.trim().to_lowercase().starts_with("chunkloaderror"))
    });
    if chunk_load {
        return Some(vec![Cow::Borrowed("chunkloaderror")]);
    }

    let transaction = input.tags.iter().find(|(k, _)| k == "transaction")?;
    let messages = input
        .message
        .iter()
        .map(|m| m.formatted.as_ref())
        .chain(input.exceptions.iter().filter_map(|e| e.value));
    let hydration = messages
        .map(str::trim)
        .any(|m| HYDRATION_MESSAGES.iter().any(|h| h.eq_ignore_ascii_case(m)));
    hydration.then(|| vec![Cow::Borrowed("hydrationerror"), Cow::Owned(transaction.1.clone())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouped(platform: &str, path: Option<&str>, module: Option<&str>, function: Option<&str>) -> bool {
        frame_rules(platform, path, module, function).grouped
    }

    fn frame_is_library(
        platform: &str,
        path: Option<&str>,
        module: Option<&str>,
        function: Option<&str>,
    ) -> bool {
        frame_rules(platform, path, module, function).library
    }

    #[test]
    fn third_party_paths_are_libraries() {
        for path in [
            "/usr/lib/python3.12/site-packages/django/core/handlers/base.py",
            "/app/node_modules/react-dom/cjs/react-dom.development.js",
            "C:\\inetpub\\app\\vendor\\laravel\\framework\\src\\Foundation.php",
            "/root/go/pkg/mod/github.com/lib/pq@v1.10.9/conn.go",
            "https://unpkg.com/react@18/umd/react.production.min.js",
        ] {
            assert!(frame_is_library("python", Some(path), None, None), "{path}");
        }
        assert!(!frame_is_library("python", Some("/app/views.py"), None, None));
    }

    #[test]
    fn transpiler_helpers_and_node_plumbing_do_not_group() {
        assert!(!grouped(
            "javascript",
            None,
            Some("@babel/runtime/helpers"),
            Some("f")
        ));
        assert!(!grouped("node", None, None, Some("processTicksAndRejections")));
        assert!(!grouped("javascript", None, None, Some("_callSuper")));
        assert!(grouped("python", None, None, Some("_callSuper")));
        assert!(grouped(
            "node",
            Some("/app/index.js"),
            Some("index"),
            Some("main")
        ));
    }

    #[test]
    fn paths_compare_case_insensitively_with_either_slash() {
        assert!(frame_is_library(
            "python",
            Some("C:\\Python312\\Lib\\Site-Packages\\x.py"),
            None,
            None
        ));
        assert!(frame_is_library(
            "dart",
            Some("package:sentry/src/hub.dart"),
            None,
            None
        ));
    }

    #[test]
    fn monitoring_agents_do_not_group() {
        assert!(!grouped(
            "node",
            Some("/app/node_modules/newrelic/lib/shim.js"),
            None,
            Some("f")
        ));
        assert!(grouped("node", Some("/app/newrelic.js"), None, Some("f")));
    }

    #[test]
    fn jvm_libraries_are_not_in_app() {
        assert!(frame_is_library(
            "java",
            None,
            Some("org.springframework.web.Servlet"),
            None
        ));
        assert!(!grouped("java", None, Some("io.sentry.SentryClient"), None));
        assert!(!frame_is_library("java", None, Some("com.example.App"), None));
    }

    #[test]
    fn library_rules_override_the_sdk_in_app_flag() {
        let cdn = frame_rules(
            "javascript",
            Some("https://cdn.jsdelivr.net/npm/x.js"),
            None,
            Some("f"),
        );
        assert!(!cdn.in_app(Some(true)));
        let own = frame_rules("javascript", Some("https://example.com/app.js"), None, Some("f"));
        assert!(own.in_app(Some(true)));
        assert!(!own.in_app(None));
    }
}
