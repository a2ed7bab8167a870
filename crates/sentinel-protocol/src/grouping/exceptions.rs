//! Exception chains (getsentry/sentry `newstyle.py` `chained_exception`): every exception of the
//! chain contributes, except the wrappers that exception groups add (RFC 0079, "Sentry issue
//! grouping"), and the chain may name a different "main" exception for the title.

use std::collections::{HashMap, HashSet};

use super::{Component, ExceptionIn, Input, Variants, frames};

/// The grouping-relevant view of an event's exceptions.
pub(super) struct Chain<'e, 'i> {
    /// The chain's variants; `None` without exceptions.
    pub(super) variants: Option<Variants<'e>>,
    /// The exception the issue title describes.
    pub(super) main: Option<&'i ExceptionIn<'e>>,
}

pub(super) fn analyze<'e, 'i>(input: &'i Input<'e>) -> Chain<'e, 'i> {
    let all = &input.exceptions;
    if all.is_empty() {
        return Chain {
            variants: None,
            main: None,
        };
    }
    let components: Vec<Variants<'e>> = all
        .iter()
        .map(|e| frames::exception_variants(e, input.platform))
        .collect();

    let (selected, mut main_id) = if input.python_sdk_v3 {
        ((0..all.len()).collect(), None)
    } else {
        filter_exception_groups(all, &components).unwrap_or_else(|| ((0..all.len()).collect(), None))
    };

    let variants = if let [only] = selected[..] {
        components[only].clone()
    } else {
        let chosen: Vec<&ExceptionIn<'e>> = selected.iter().map(|&i| &all[i]).collect();
        if let Some(id) = override_main_exception_id(&chosen) {
            main_id = Some(id);
        }
        let mut app = Component::default();
        let mut system: Option<Component<'e>> = None;
        for &i in &selected {
            let part = &components[i];
            app.values.extend(part.app.values.iter().cloned());
            app.stacktrace_contributes |= part.app.stacktrace_contributes;
            if let Some(part) = &part.system {
                let system = system.get_or_insert_with(Component::default);
                system.values.extend(part.values.iter().cloned());
                system.stacktrace_contributes |= part.stacktrace_contributes;
            }
        }
        Variants { app, system }
    };

    // Sentry's `get_exception`: the exception whose mechanism carries the main id, else the last.
    let main = main_id
        .filter(|&id| id != 0)
        .and_then(|id| all.iter().find(|e| e.mechanism.exception_id == Some(id)))
        .or_else(|| all.last());

    Chain {
        variants: Some(variants.drop_non_stacktrace_variants()),
        main,
    }
}

#[derive(Default)]
struct Node {
    exception: Option<usize>,
    children: Vec<usize>,
}

/// Sentry's `filter_exceptions_for_exception_groups`: indices of the exceptions that group, and
/// the main exception id when only one distinct exception sits inside the groups. `None` means
/// "use the chain as is" (no tree, a broken tree, or a cycle).
fn filter_exception_groups(
    exceptions: &[ExceptionIn<'_>],
    components: &[Variants<'_>],
) -> Option<(Vec<usize>, Option<i64>)> {
    if exceptions.len() <= 1 {
        return None;
    }
    let mut tree: HashMap<i64, Node> = HashMap::new();
    let mut seen = HashSet::new();
    for (i, exception) in exceptions.iter().enumerate().rev() {
        let mechanism = &exception.mechanism;
        let id = mechanism.exception_id?;
        if Some(id) == mechanism.parent_id || !seen.insert(id) {
            return None;
        }
        tree.entry(id).or_default().exception = Some(i);
        if let Some(parent) = mechanism.parent_id {
            tree.entry(parent).or_default().children.push(i);
        }
    }
    let children = |i: usize| -> &[usize] {
        exceptions[i]
            .mechanism
            .exception_id
            .and_then(|id| tree.get(&id))
            .map_or(&[], |node| &node.children[..])
    };

    let root = tree.get(&0)?.exception?;
    let mut top_level = Vec::new();
    collect_top_level(exceptions, root, &children, &mut top_level, 0)?;
    if top_level.is_empty() {
        return None;
    }
    // Python's `sorted(..., reverse=True)` keeps equal keys in order, as a stable sort does.
    top_level.sort_by(|&a, &b| type_key(&exceptions[b]).cmp(type_key(&exceptions[a])));
    let mut distinct: Vec<usize> = Vec::new();
    for i in top_level {
        if distinct
            .last()
            .is_none_or(|&last| components[last] != components[i])
        {
            distinct.push(i);
        }
    }

    if let [main] = distinct[..] {
        let mut path = vec![main];
        let mut current = main;
        while let Some(&first) = children(current).first() {
            if path.len() > exceptions.len() {
                return None;
            }
            path.push(first);
            current = first;
        }
        return Some((path, exceptions[main].mechanism.exception_id));
    }
    distinct.push(root);
    Some((distinct, None))
}

fn type_key<'a>(exception: &'a ExceptionIn<'_>) -> &'a str {
    exception.ty.unwrap_or("None")
}

/// The exceptions directly inside exception groups, depth first; `None` on a cycle.
fn collect_top_level<'c>(
    exceptions: &[ExceptionIn<'_>],
    at: usize,
    children: &impl Fn(usize) -> &'c [usize],
    out: &mut Vec<usize>,
    depth: usize,
) -> Option<()> {
    if depth > exceptions.len() {
        return None;
    }
    if exceptions[at].mechanism.is_exception_group {
        for &child in children(at) {
            collect_top_level(exceptions, child, children, out, depth + 1)?;
        }
    } else {
        out.push(at);
    }
    Some(())
}

const REACT_ERRORS_WITH_CAUSE: [&str; 2] = [
    "There was an error during concurrent rendering but React was able to recover by instead synchronously rendering the entire root.",
    "There was an error while hydrating but React was able to recover by instead client rendering from the nearest Suspense boundary.",
];

const RXJAVA_WRAPPERS: [&str; 3] = [
    "OnErrorNotImplementedException",
    "CompositeException",
    "UndeliverableException",
];

/// Sentry's `_maybe_override_main_exception_id`: React 19's recoverable errors and RxJava's
/// wrappers are titled by the error they wrap.
fn override_main_exception_id(exceptions: &[&ExceptionIn<'_>]) -> Option<i64> {
    let (first, last) = (exceptions.first()?, exceptions.last()?);
    if first.ty == Some("Error")
        && first.value.is_some_and(|v| REACT_ERRORS_WITH_CAUSE.contains(&v))
        && last.mechanism.source == Some("cause")
        && let Some(id) = last.mechanism.exception_id
    {
        return Some(id);
    }
    if exceptions.len() < 2 {
        return None;
    }
    let wrapper = exceptions.iter().find(|e| {
        e.module == Some("io.reactivex.rxjava3.exceptions")
            && e.ty.is_some_and(|t| RXJAVA_WRAPPERS.contains(&t))
            && e.mechanism.ty == Some("UncaughtExceptionHandler")
    })?;
    let wrapper_id = wrapper.mechanism.exception_id?;
    exceptions
        .iter()
        .find(|e| e.mechanism.parent_id == Some(wrapper_id) && e.mechanism.exception_id.is_some())
        .and_then(|e| e.mechanism.exception_id)
}
