//! Frame, stack trace and single-exception components (getsentry/sentry
//! `src/sentry/grouping/strategies/newstyle.py`: `frame`, `stacktrace`, `single_exception`).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::{Component, ExceptionIn, FrameIn, Variants};
use crate::parameterize::normalize_message_for_grouping;

/// Platforms whose source lines are trusted enough to group by (`contextline_platforms`).
const CONTEXT_LINE_PLATFORMS: [&str; 5] = ["javascript", "node", "python", "php", "ruby"];

/// Source lines longer than this (in characters) do not contribute.
const MAX_CONTEXT_LINE_CHARS: usize = 120;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Native,
    JavaScript,
    Other,
}

/// Sentry's `get_behavior_family_for_platform`.
pub(crate) fn family(platform: &str) -> Family {
    match platform {
        "objc" | "cocoa" | "swift" | "native" | "c" => Family::Native,
        "javascript" | "node" => Family::JavaScript,
        _ => Family::Other,
    }
}

/// Sentry's `has_url_origin`.
pub(crate) fn has_url_origin(path: Option<&str>, files_count_as_urls: bool) -> bool {
    let Some(path) = path else {
        return false;
    };
    if ["http:", "https:", "applewebdata:", "blob:"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        return true;
    }
    path.starts_with("file:") && files_count_as_urls
}

/// The contributing values of one frame (before the variant and recursion decide whether the
/// frame contributes at all), in Sentry's order: module, filename, function, context line.
pub(super) fn frame_values<'e>(frame: &FrameIn<'e>, event_platform: &'e str) -> Vec<Cow<'e, str>> {
    let platform = frame.platform.unwrap_or(event_platform);
    let family = family(platform);

    let filename = frame
        .filename
        .and_then(|name| filename_value(name, frame.abs_path, platform));
    let module = frame
        .module
        .and_then(|module| module_value(module, frame.abs_path, platform));
    let filename = if module.is_some() { None } else { filename };

    let context_line = frame
        .context_line
        .filter(|_| CONTEXT_LINE_PLATFORMS.contains(&platform))
        .and_then(|raw| context_line_value(raw, frame, family));
    let function = function_value(frame, platform, family, context_line.is_some());

    if family == Family::JavaScript && is_low_quality_javascript_frame(frame) {
        return Vec::new();
    }
    [module, filename, function, context_line]
        .into_iter()
        .flatten()
        .collect()
}

fn filename_value<'e>(filename: &'e str, abs_path: Option<&str>, platform: &str) -> Option<Cow<'e, str>> {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let base = if base.chars().any(char::is_uppercase) {
        Cow::Owned(base.to_lowercase())
    } else {
        Cow::Borrowed(base)
    };
    if has_url_origin(abs_path, false) || base == "<anonymous>" || base == "[native code]" {
        return None;
    }
    if platform == "java" {
        return Some(Cow::Owned(JAVASSIST.replace_all(&base, "$1<auto>").into_owned()));
    }
    Some(base)
}

fn module_value<'e>(module: &'e str, abs_path: Option<&str>, platform: &str) -> Option<Cow<'e, str>> {
    if platform == "javascript" && module.contains('/') && abs_path.is_some_and(|p| p.ends_with(module)) {
        return None;
    }
    if platform != "java" {
        return Some(Cow::Borrowed(module));
    }
    if module.contains("$$Lambda$") {
        return None;
    }
    for marker in [
        "sun.reflect.GeneratedMethodAccessor",
        "jdk.internal.reflect.GeneratedMethodAccessor",
    ] {
        if module.starts_with(marker) {
            return Some(Cow::Borrowed(marker));
        }
    }
    let mut cleaned = Cow::Borrowed(module);
    for (re, replacement) in JAVA_MODULE_CLEANUPS.iter() {
        if let Cow::Owned(s) = re.replace_all(&cleaned, *replacement) {
            cleaned = Cow::Owned(s);
        }
    }
    Some(cleaned)
}

fn context_line_value<'e>(raw: &'e str, frame: &FrameIn<'_>, family: Family) -> Option<Cow<'e, str>> {
    let line = collapse_whitespace(raw);
    if line.is_empty() || raw.chars().count() > MAX_CONTEXT_LINE_CHARS {
        return None;
    }
    if family == Family::JavaScript && frame.function.is_none() && has_url_origin(frame.abs_path, true) {
        return None;
    }
    Some(line)
}

/// Python's `" ".join(line.split())`, borrowing when that is just a trim.
fn collapse_whitespace(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    let mut previous_was_space = false;
    let already_collapsed = trimmed.chars().all(|c| {
        let ok = !c.is_whitespace() || (c == ' ' && !previous_was_space);
        previous_was_space = c.is_whitespace();
        ok
    });
    if already_collapsed {
        return Cow::Borrowed(trimmed);
    }
    let mut line = String::with_capacity(trimmed.len());
    for word in trimmed.split_whitespace() {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    Cow::Owned(line)
}

fn function_value<'e>(
    frame: &FrameIn<'e>,
    platform: &str,
    family: Family,
    context_line_contributes: bool,
) -> Option<Cow<'e, str>> {
    let func = if platform == "csharp" {
        frame.raw_function.or(frame.function)
    } else {
        frame.function.or(frame.raw_function)
    }?;

    let mut value = Cow::Borrowed(func);
    match (platform, family) {
        ("ruby", _) => {
            if func.starts_with("block ") {
                value = Cow::Borrowed("block");
            } else if let Some(m) = RUBY_ERB_SUFFIX.find(func) {
                value = Cow::Borrowed(&func[..m.start()]);
            }
        }
        ("php", _) => {
            if func.starts_with("[Anonymous") || func.starts_with("class@anonymous\0") {
                return None;
            }
            if func.starts_with("class@anonymous") {
                value = Cow::Borrowed(func.rsplit("::").next().unwrap_or(func));
            }
        }
        ("java", _) if func.starts_with("lambda$") => return None,
        (_, Family::Native) if func == "<redacted>" || func == "<unknown>" => return None,
        (_, Family::JavaScript) => {
            value = Cow::Borrowed(func.rsplit('.').next().unwrap_or(func));
            if frame.sourcemap && context_line_contributes {
                return None;
            }
            // Names that say nothing about the code: `?`, anonymous functions, Firefox's `foo/<`.
            let name = frame.raw_function.or(frame.function).unwrap_or("");
            let name = name.rsplit('.').next().unwrap_or(name);
            if name.is_empty()
                || matches!(
                    name,
                    "?" | "<anonymous function>" | "<anonymous>" | "Anonymous function"
                )
                || name.ends_with("/<")
            {
                return None;
            }
        }
        _ => {}
    }
    Some(value)
}

/// `eval` frames and frames without real source locations are noise in JavaScript stack traces.
fn is_low_quality_javascript_frame(frame: &FrameIn<'_>) -> bool {
    let name = frame.raw_function.or(frame.function);
    let name = name.map(|n| n.rsplit('.').next().unwrap_or(n));
    name == Some("eval")
        || matches!(
            frame.abs_path,
            Some("[native code]" | "native code" | "eval code" | "<anonymous>")
        )
}

/// Frames that repeat the previous one exactly (recursion) do not contribute.
fn is_recursion(frame: &FrameIn<'_>, previous: &FrameIn<'_>) -> bool {
    frame.abs_path == previous.abs_path
        && frame.package == previous.package
        && frame.module == previous.module
        && frame.filename == previous.filename
        && frame.function == previous.function
        && frame.lineno == previous.lineno
        && frame.colno == previous.colno
}

/// The app and system variants of one stack trace.
pub(super) fn stacktrace_variants<'e>(frames: &[FrameIn<'e>], event_platform: &'e str) -> Variants<'e> {
    let mut app = Component::default();
    let mut system = Component::default();
    let single_url_frame_without_function = frames.len() == 1 && {
        let frame = &frames[0];
        family(frame.platform.unwrap_or(event_platform)) == Family::JavaScript
            && frame.function.is_none()
            && has_url_origin(frame.abs_path, true)
    };
    for (i, frame) in frames.iter().enumerate() {
        if !frame.grouped
            || single_url_frame_without_function
            || (i > 0 && is_recursion(frame, &frames[i - 1]))
        {
            continue;
        }
        let values = frame_values(frame, event_platform);
        if values.is_empty() {
            continue;
        }
        if frame.in_app {
            app.values.extend(values.iter().cloned());
        }
        system.values.extend(values);
    }
    app.stacktrace_contributes = app.contributes();
    system.stacktrace_contributes = system.contributes();
    Variants {
        app,
        system: Some(system),
    }
}

/// The variants of one exception, in `newstyle:2023-01-11` subcomponent order: stack trace, type,
/// then the parameterized value, which only counts when no stack trace does.
pub(super) fn exception_variants<'e>(exception: &ExceptionIn<'e>, event_platform: &'e str) -> Variants<'e> {
    let ty = exception
        .ty
        .filter(|t| !t.is_empty() && !exception.mechanism.synthetic)
        .map(Cow::Borrowed);
    let value = exception
        .value
        .map(normalize_message_for_grouping)
        .filter(|v| !v.is_empty())
        .map(Cow::Owned);

    let build = |stack: Component<'e>| {
        let mut values = Vec::with_capacity(stack.values.len() + 2);
        let stacktrace_contributes = stack.contributes();
        values.extend(stack.values);
        values.extend(ty.clone());
        if !stacktrace_contributes {
            values.extend(value.clone());
        }
        Component {
            values,
            stacktrace_contributes,
        }
    };

    if exception.frames.is_empty() {
        return Variants {
            app: build(Component::default()),
            system: None,
        };
    }
    let stacks = stacktrace_variants(&exception.frames, event_platform);
    Variants {
        app: build(stacks.app),
        system: stacks.system.map(build),
    }
}

static RUBY_ERB_SUFFIX: LazyLock<Regex> = LazyLock::new(|| compile(r"__\d{4,}_\d{4,}$"));
static JAVASSIST: LazyLock<Regex> = LazyLock::new(|| compile(r"(\$\$_javassist)(?:_seam)?(?:_[0-9]+)?"));
static JAVA_MODULE_CLEANUPS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        r"(sun\.reflect\.Generated(?:Serialization)?ConstructorAccessor)\d+",
        r"(\$\$[\w_]+?CGLIB\$\$)[a-fA-F0-9]+(_[0-9]+)?",
        r"(\$\$_javassist)(?:_seam)?(?:_[0-9]+)?",
        r"(\$fn__)\d+",
        r"(\$\$?EnhancerBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?",
        r"(\$\$?FastClassBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?",
        r"(\$\$?HibernateProxy\$?\$)\w+(_[0-9]+)?",
    ]
    .into_iter()
    .map(|p| (compile(p), "${1}<auto>"))
    .collect()
});

#[expect(
    clippy::expect_used,
    reason = "the patterns are constants; the unit tests exercise every one of them"
)]
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("grouping pattern compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame<'e>(function: &'e str) -> FrameIn<'e> {
        FrameIn {
            function: Some(function),
            grouped: true,
            ..FrameIn::default()
        }
    }

    #[test]
    fn module_takes_precedence_over_filename() {
        let f = FrameIn {
            module: Some("app.views"),
            filename: Some("app/views.py"),
            ..frame("divide")
        };
        assert_eq!(frame_values(&f, "python"), ["app.views", "divide"]);
    }

    #[test]
    fn filename_is_the_lowercased_basename() {
        let f = FrameIn {
            filename: Some("C:\\Src\\Handlers\\Order.PHP"),
            ..frame("handle")
        };
        assert_eq!(frame_values(&f, "php"), ["order.php", "handle"]);
    }

    #[test]
    fn filenames_from_urls_do_not_contribute() {
        let f = FrameIn {
            filename: Some("/static/app.js"),
            abs_path: Some("https://example.com/static/app.js"),
            ..frame("render")
        };
        assert_eq!(frame_values(&f, "javascript"), ["render"]);
    }

    #[test]
    fn javascript_function_names_lose_their_receiver() {
        assert_eq!(frame_values(&frame("Object.foo"), "javascript"), ["foo"]);
        assert_eq!(frame_values(&frame("a.b.Foo.bar"), "node"), ["bar"]);
    }

    #[test]
    fn unknown_javascript_function_names_are_ignored() {
        for name in [
            "?",
            "<anonymous>",
            "Object.<anonymous>",
            "Anonymous function",
            "foo/<",
        ] {
            let f = FrameIn {
                module: Some("app"),
                ..frame(name)
            };
            assert_eq!(frame_values(&f, "javascript"), ["app"], "{name}");
        }
    }

    #[test]
    fn eval_and_native_code_frames_are_ignored_in_javascript() {
        assert!(frame_values(&frame("eval"), "javascript").is_empty());
        let f = FrameIn {
            abs_path: Some("[native code]"),
            ..frame("forEach")
        };
        assert!(frame_values(&f, "javascript").is_empty());
    }

    #[test]
    fn context_lines_are_collapsed_and_only_used_on_trusted_platforms() {
        let f = FrameIn {
            module: Some("app"),
            context_line: Some("    x =\t1 /  0  "),
            ..frame("divide")
        };
        assert_eq!(frame_values(&f, "python"), ["app", "divide", "x = 1 / 0"]);
        assert_eq!(frame_values(&f, "java"), ["app", "divide"]);
    }

    #[test]
    fn whitespace_collapsing_matches_python_split_and_join() {
        assert_eq!(collapse_whitespace("  a b  "), "a b");
        assert!(matches!(collapse_whitespace("  a b  "), Cow::Borrowed(_)));
        assert_eq!(collapse_whitespace("a\t\tb   c\n"), "a b c");
        assert_eq!(collapse_whitespace(" \t "), "");
    }

    #[test]
    fn long_context_lines_do_not_contribute() {
        let long = "x".repeat(121);
        let f = FrameIn {
            context_line: Some(&long),
            ..frame("f")
        };
        assert_eq!(frame_values(&f, "python"), ["f"]);
    }

    #[test]
    fn sourcemapped_javascript_frames_group_by_context_line_not_function() {
        let f = FrameIn {
            module: Some("src/index"),
            context_line: Some("throw Error(\"boom\");"),
            sourcemap: true,
            ..frame("onClick")
        };
        assert_eq!(
            frame_values(&f, "javascript"),
            ["src/index", "throw Error(\"boom\");"]
        );
    }

    #[test]
    fn ruby_blocks_and_erb_suffixes_are_normalized() {
        assert_eq!(frame_values(&frame("block in render"), "ruby"), ["block"]);
        assert_eq!(
            frame_values(&frame("_app_views_show_html_erb__1234_5678"), "ruby"),
            ["_app_views_show_html_erb"]
        );
    }

    #[test]
    fn php_anonymous_functions_and_classes_are_normalized() {
        assert!(frame_values(&frame("[Anonymous function]"), "php").is_empty());
        assert_eq!(
            frame_values(&frame("class@anonymous/in/x.php:3$0::handle"), "php"),
            ["handle"]
        );
    }

    #[test]
    fn java_codegen_markers_are_replaced() {
        let f = FrameIn {
            module: Some("com.example.Foo$$EnhancerBySpringCGLIB$$1a2b3c"),
            ..frame("run")
        };
        assert_eq!(
            frame_values(&f, "java"),
            ["com.example.Foo$$EnhancerBySpringCGLIB$$<auto>", "run"]
        );
        assert!(frame_values(&frame("lambda$main$0"), "java").is_empty());
    }

    #[test]
    fn recursion_is_collapsed() {
        let frames = vec![frame("a"), frame("b"), frame("b"), frame("b"), frame("c")];
        let v = stacktrace_variants(&frames, "python");
        assert_eq!(
            v.system.map(|c| c.values),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn app_variant_only_has_in_app_frames() {
        let frames = vec![
            frame("lib"),
            FrameIn {
                in_app: true,
                ..frame("mine")
            },
        ];
        let v = stacktrace_variants(&frames, "python");
        assert_eq!(v.app.values, ["mine"]);
        assert_eq!(v.system.map(|c| c.values.len()), Some(2));
    }

    #[test]
    fn exception_value_only_counts_without_a_stack_trace() {
        let bare = ExceptionIn {
            ty: Some("ValueError"),
            value: Some("bad id 42"),
            ..ExceptionIn::default()
        };
        let v = exception_variants(&bare, "python");
        assert_eq!(v.app.values, ["ValueError", "bad id <int>"]);
        assert!(v.system.is_none());

        let with_stack = ExceptionIn {
            frames: vec![FrameIn {
                in_app: true,
                ..frame("f")
            }],
            ..bare
        };
        let v = exception_variants(&with_stack, "python");
        assert_eq!(v.app.values, ["f", "ValueError"]);
    }
}
