//! The corpus's issue groups: for each group number, a fixed crash site and call path.
//!
//! Everything Sentry's grouping reads from a Python event (exception types, and per in-app frame
//! its module, function and context line) depends on the group number alone, so every event of a
//! group lands in the same issue and different groups never share one. Per-event data (messages,
//! variables, line numbers of library code, ids) varies freely.

use super::vocab::{
    ACTIONS, AREAS, DJANGO_CHAIN, EXCEPTIONS, ExceptionKind, FLASK_CHAIN, HELPERS, LibFrame, VERBS, WORDS,
};

/// How many distinct groups the corpus produces.
pub const GROUP_COUNT: u32 = (AREAS.len() * VERBS.len()) as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framework {
    Django,
    Flask,
}

impl Framework {
    pub(crate) fn chain(self) -> &'static [LibFrame] {
        match self {
            Framework::Django => &DJANGO_CHAIN,
            Framework::Flask => &FLASK_CHAIN,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Django => "django",
            Framework::Flask => "flask",
        }
    }
}

/// One in-app frame of a group's call path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppFrame {
    pub module: String,
    pub function: String,
    pub lineno: u32,
    pub context_line: String,
}

pub(crate) struct GroupSpec {
    pub framework: Framework,
    pub area: &'static str,
    pub noun: &'static str,
    pub action: &'static str,
    pub method: &'static str,
    pub exception: &'static ExceptionKind,
    /// Library frames before the application, outermost first.
    pub prefix: &'static [LibFrame],
    /// In-app frames, outermost first; the last one calls into `exception.tail` or raises.
    pub app: Vec<AppFrame>,
    /// A chained cause (`During handling of the above exception…`) for some groups.
    pub cause: Option<&'static ExceptionKind>,
}

impl GroupSpec {
    pub(crate) fn new(group: u32) -> Self {
        let g = (group % GROUP_COUNT) as usize;
        let (area, noun) = AREAS[g % AREAS.len()];
        let verb = VERBS[(g / AREAS.len()) % VERBS.len()];
        let framework = if g % 3 == 2 {
            Framework::Flask
        } else {
            Framework::Django
        };
        let exception = &EXCEPTIONS[(g * 7 + g / 12) % EXCEPTIONS.len()];
        let (action, method) = ACTIONS[(g / 5) % ACTIONS.len()];
        let word = WORDS[(g * 5) % WORDS.len()];
        let depth = 2 + (g * 3) % 4 * (g % 2);
        // 8 to 20 frames, most stacks short (as in real services) so that events average ~10 KB.
        // A quarter of the groups have deep stacks; the rest have the minimum the call path needs.
        let k = (g * 5) % 13;
        let target_frames = if g % 4 == 3 { 8 + k * k * k * k / 1728 } else { 8 };
        let chain = framework.chain();
        let prefix_len = target_frames
            .saturating_sub(depth + exception.tail.len())
            .clamp(2, chain.len());

        let service_fn = format!("{verb}_{noun}");
        let crash_line = exception.app_line.replace("{word}", word);
        let mut app = Vec::with_capacity(depth);
        let view_fn = match framework {
            Framework::Django => action.to_owned(),
            Framework::Flask => format!("{action}_{noun}"),
        };
        app.push(AppFrame {
            module: format!("app.{area}.views"),
            function: view_fn,
            lineno: line_no(g, 0),
            context_line: format!(
                "result = services.{service_fn}(request.tenant, {noun}_id, data=request.data)"
            ),
        });
        let mut helpers = (0..depth - 2)
            .map(|k| HELPERS[(g + k * 3) % HELPERS.len()])
            .collect::<Vec<_>>();
        helpers.dedup();
        let service_line = match helpers.first() {
            Some((module, function)) => {
                let short = module.rsplit('.').next().unwrap_or(module);
                format!("payload = {short}.{function}({noun}, tenant=tenant)")
            }
            None => crash_line.clone(),
        };
        app.push(AppFrame {
            module: format!("app.{area}.services"),
            function: service_fn,
            lineno: line_no(g, 1),
            context_line: service_line,
        });
        for (k, (module, function)) in helpers.iter().enumerate() {
            let context_line = match helpers.get(k + 1) {
                Some((next_module, next_fn)) => {
                    let short = next_module.rsplit('.').next().unwrap_or(next_module);
                    format!("return {short}.{next_fn}(obj, *args, **kwargs)")
                }
                None => crash_line.clone(),
            };
            app.push(AppFrame {
                module: (*module).to_owned(),
                function: (*function).to_owned(),
                lineno: line_no(g, k + 2),
                context_line,
            });
        }
        let cause = (g % 9 == 4).then(|| &EXCEPTIONS[(g + 5) % EXCEPTIONS.len()]);
        GroupSpec {
            framework,
            area,
            noun,
            action,
            method,
            exception,
            prefix: &chain[chain.len() - prefix_len..],
            app,
            cause,
        }
    }

    pub(crate) fn frame_count(&self) -> usize {
        self.prefix.len() + self.app.len() + self.exception.tail.len()
    }

    /// The route pattern, as the transaction name shows it.
    pub(crate) fn route(&self) -> String {
        match self.action {
            "list" | "create" => format!("/api/{}/", self.area),
            _ => format!("/api/{}/{{pk}}/", self.area),
        }
    }
}

/// A stable line number for the k-th in-app frame of group g.
fn line_no(g: usize, k: usize) -> u32 {
    (20 + (g * 37 + k * 101) % 380) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_group_has_a_distinct_call_path() {
        let paths: HashSet<Vec<(String, String, String)>> = (0..GROUP_COUNT)
            .map(|g| {
                let spec = GroupSpec::new(g);
                spec.app
                    .iter()
                    .map(|f| (f.module.clone(), f.function.clone(), f.context_line.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(paths.len(), GROUP_COUNT as usize);
    }

    #[test]
    fn stacks_have_between_8_and_20_frames_with_two_to_five_in_app() {
        for g in 0..GROUP_COUNT {
            let spec = GroupSpec::new(g);
            assert!(
                (8..=20).contains(&spec.frame_count()),
                "group {g}: {} frames",
                spec.frame_count()
            );
            assert!((2..=5).contains(&spec.app.len()), "group {g}");
        }
    }

    #[test]
    fn context_lines_are_short_enough_to_count_for_grouping() {
        for g in 0..GROUP_COUNT {
            for f in GroupSpec::new(g).app {
                assert!(f.context_line.chars().count() <= 120, "{}", f.context_line);
            }
        }
    }
}
