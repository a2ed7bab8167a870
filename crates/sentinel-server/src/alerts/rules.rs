//! The semantics every rule shares, as pure functions of the previous state, the current reading
//! and the time: when a subject's state changes and when that change notifies.
//!
//! - Entering the condition starts a new episode and notifies `Triggered`, unless the subject was
//!   notified within the rule's cooldown.
//! - Staying in it notifies nothing, except `Reminder` every `reminder_ms` if the rule has one.
//! - Leaving it notifies `Resolved` if the rule asks for recovery notices and the episode's
//!   trigger was notified (a trigger swallowed by the cooldown is not followed by a recovery).
//! - Staying out of it writes nothing.
//!
//! Idempotency keys are derived from the rule, the subject, the episode and the transition (and,
//! for reminders, which reminder it is), so evaluating the same situation twice, on one node or
//! two, yields the same keys and the outbox stores each notification once.
//!
//! Rules with hysteresis (the tenant kinds) measure a [`Level`] rather than a yes/no: entering
//! needs the measure over the rule's threshold for `evaluations` evaluations in a row (the
//! streak, kept in the state so it survives a leader hand-over), leaving needs it under a lower
//! bound, and the band between changes nothing: a subject hovering around the threshold opens one
//! episode and resolves it once.

use sentinel_store::{AlertRule, AlertState, Transition};

/// A state change of one subject and what it notifies (`None`: state only).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub state: AlertState,
    pub notify: Option<Transition>,
    /// Distinguishes reminders of one episode (the reminder's number); 0 otherwise.
    pub seq: i64,
}

impl Step {
    /// A change of state that notifies nothing.
    fn quiet(state: AlertState) -> Step {
        Step {
            state,
            notify: None,
            seq: 0,
        }
    }
}

/// Where one evaluation's measure of a subject stands against a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// In the condition: over the threshold that opens an episode.
    Over,
    /// Between the lower bound and the threshold: an open episode stays open, a streak towards
    /// opening one is broken.
    Band,
    /// Out of the condition: under the lower bound (or not measured at all).
    Under,
}

impl Level {
    /// A rule without hysteresis: in the condition or out of it.
    pub fn holds(holds: bool) -> Level {
        if holds { Level::Over } else { Level::Under }
    }

    /// Where `value` stands: over `threshold` (or at it, when `inclusive`), under `lower`, or
    /// between.
    pub fn of(value: f64, threshold: f64, inclusive: bool, lower: f64) -> Level {
        if value > threshold || (inclusive && value >= threshold) {
            Level::Over
        } else if value < lower {
            Level::Under
        } else {
            Level::Band
        }
    }
}

/// When a subject's episode opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// Evaluations in a row over the threshold (1: the first one opens it).
    pub evaluations: u32,
    /// How far apart evaluations are. A streak counts at most one evaluation per interval since
    /// it began (to the nearest interval): two leaders during a hand-over evaluating the same
    /// moment must not open an episode early. 0: every evaluation counts.
    pub interval_ms: i64,
}

impl Opening {
    /// The first evaluation in the condition opens the episode.
    pub const AT_ONCE: Opening = Opening {
        evaluations: 1,
        interval_ms: 0,
    };
}

/// Evaluates a threshold rule for one subject: `holds` is whether the subject is in the condition
/// now, `value` what was measured. `None` when nothing changes.
pub fn step(
    rule: &AlertRule,
    prev: Option<&AlertState>,
    subject: &str,
    holds: bool,
    value: Option<f64>,
    now_ms: i64,
) -> Option<Step> {
    advance(
        rule,
        prev,
        subject,
        Level::holds(holds),
        Opening::AT_ONCE,
        value,
        now_ms,
    )
}

/// Evaluates a rule with hysteresis for one subject: `level` is where its measure `value` stands
/// now, `opening` how many evaluations over the threshold open an episode. `None` when nothing
/// changes.
pub fn advance(
    rule: &AlertRule,
    prev: Option<&AlertState>,
    subject: &str,
    level: Level,
    opening: Opening,
    value: Option<f64>,
    now_ms: i64,
) -> Option<Step> {
    let firing = prev.is_some_and(|p| p.firing);
    match (firing, level) {
        (false, Level::Band | Level::Under) => {
            // A broken streak starts over; without one, staying out writes nothing.
            let prev = prev.filter(|p| p.streak > 0)?;
            let mut state = prev.clone();
            state.streak = 0;
            state.since_ms = now_ms;
            state.value = value;
            Some(Step::quiet(state))
        }
        (false, Level::Over) => {
            let streak = streak(prev, opening, now_ms);
            if streak >= i64::from(opening.evaluations) {
                return Some(enter(rule, prev, subject, true, value, now_ms));
            }
            let mut state = prev.cloned().unwrap_or_else(|| blank(rule, subject, now_ms));
            if state.streak == 0 {
                state.since_ms = now_ms;
            }
            if state.streak == streak && state.value == value {
                return None;
            }
            state.streak = streak;
            state.value = value;
            Some(Step::quiet(state))
        }
        (true, Level::Over | Level::Band) => {
            let prev = prev?;
            let every = rule.reminder_ms.filter(|r| *r > 0)?;
            // An episode the cooldown silenced stays silent, reminders included.
            let last = prev.last_notified_ms.filter(|_| announced(prev))?;
            if now_ms - last < every {
                return None;
            }
            let mut state = prev.clone();
            state.last_notified_ms = Some(now_ms);
            state.value = value;
            Some(Step {
                state,
                notify: Some(Transition::Reminder),
                seq: (now_ms - prev.since_ms) / every,
            })
        }
        (true, Level::Under) => {
            let prev = prev?;
            let mut state = prev.clone();
            state.firing = false;
            state.since_ms = now_ms;
            state.value = value;
            let notify = (rule.notify_recovery && announced(prev)).then(|| {
                state.last_notified_ms = Some(now_ms);
                Transition::Resolved
            });
            Some(Step {
                state,
                notify,
                seq: 0,
            })
        }
    }
}

/// An event-driven firing (new issue, regression) of `subject`: each is an episode of its own,
/// which notifies unless the subject was notified within the cooldown. No recovery follows.
pub fn fire(rule: &AlertRule, prev: Option<&AlertState>, subject: &str, now_ms: i64) -> Step {
    enter(rule, prev, subject, false, None, now_ms)
}

/// The streak of a subject over the threshold now: one more than before, unless the streak's
/// evaluations so far already fill the time since it began: a streak that began at 0 s holds at
/// most 2 evaluations until 45 s, 3 until 75 s (`interval_ms` 30 s), so a repeated evaluation of
/// one moment, at its start or later, counts once.
fn streak(prev: Option<&AlertState>, opening: Opening, now_ms: i64) -> i64 {
    let Some(prev) = prev.filter(|p| p.streak > 0) else {
        return 1;
    };
    if opening.interval_ms <= 0 {
        return prev.streak + 1;
    }
    let elapsed = (now_ms - prev.since_ms).max(0);
    let room = 1 + (elapsed + opening.interval_ms / 2) / opening.interval_ms;
    // Never less than before: an interval made longer since does not shorten a streak.
    (prev.streak + 1).min(room).max(prev.streak)
}

/// The state of a subject never seen before.
fn blank(rule: &AlertRule, subject: &str, now_ms: i64) -> AlertState {
    AlertState {
        rule_id: rule.id,
        subject: subject.to_owned(),
        firing: false,
        episode: 0,
        since_ms: now_ms,
        last_notified_ms: None,
        streak: 0,
        value: None,
    }
}

/// A new episode of `subject` starting now: notified `Triggered` unless the subject was notified
/// within the rule's cooldown. `firing` is false for event-driven rules, which never recover.
fn enter(
    rule: &AlertRule,
    prev: Option<&AlertState>,
    subject: &str,
    firing: bool,
    value: Option<f64>,
    now_ms: i64,
) -> Step {
    let mut state = prev.cloned().unwrap_or_else(|| blank(rule, subject, now_ms));
    state.firing = firing;
    state.streak = 0;
    state.episode += 1;
    state.since_ms = now_ms;
    state.value = value;
    let cooled = state
        .last_notified_ms
        .is_some_and(|t| now_ms - t < rule.cooldown_ms);
    let notify = (!cooled).then(|| {
        state.last_notified_ms = Some(now_ms);
        Transition::Triggered
    });
    Step {
        state,
        notify,
        seq: 0,
    }
}

/// Whether the current episode's trigger was sent (not swallowed by the cooldown).
fn announced(state: &AlertState) -> bool {
    state.last_notified_ms.is_some_and(|t| t >= state.since_ms)
}

/// Names the episode across its trigger, reminders and recovery (PagerDuty's dedup key).
pub fn group_key(rule_id: i64, subject: &str, episode: i64) -> String {
    format!("rule:{rule_id}:{subject}:{episode}")
}

/// Unique per notification: the episode, the transition (and reminder number) and the channel.
pub fn idempotency_key(group: &str, transition: Transition, seq: i64, channel_id: i64) -> String {
    match transition {
        Transition::Reminder => format!("{group}:reminder-{seq}:channel:{channel_id}"),
        t => format!("{group}:{}:channel:{channel_id}", t.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_store::Condition;

    const MIN: i64 = 60_000;

    fn rule(cooldown_ms: i64, reminder_ms: Option<i64>, notify_recovery: bool) -> AlertRule {
        AlertRule {
            id: 7,
            project_id: Some(1),
            name: "busy".into(),
            condition: Condition::IssueFrequency {
                events: 10,
                minutes: 5,
            },
            channel_ids: vec![1],
            cooldown_ms,
            reminder_ms,
            notify_recovery,
            enabled: true,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    /// Runs a sequence of readings one minute apart; returns the notifications with their minute.
    fn run(rule: &AlertRule, readings: &[bool]) -> Vec<(usize, Transition, i64)> {
        let mut state: Option<AlertState> = None;
        let mut out = Vec::new();
        for (minute, holds) in readings.iter().enumerate() {
            if let Some(s) = step(rule, state.as_ref(), "issue:1", *holds, None, minute as i64 * MIN) {
                if let Some(t) = s.notify {
                    out.push((minute, t, s.state.episode));
                }
                state = Some(s.state);
            }
        }
        out
    }

    #[test]
    fn a_condition_notifies_once_on_entering_and_never_while_it_holds() {
        let r = rule(0, None, false);
        let n = run(&r, &[false, true, true, true, true, false, false]);
        assert_eq!(n, vec![(1, Transition::Triggered, 1)]);
    }

    #[test]
    fn recovery_is_notified_once_when_asked_for() {
        let r = rule(0, None, true);
        let n = run(&r, &[true, true, false, false, true, false]);
        assert_eq!(
            n,
            vec![
                (0, Transition::Triggered, 1),
                (2, Transition::Resolved, 1),
                (4, Transition::Triggered, 2),
                (5, Transition::Resolved, 2),
            ]
        );
    }

    #[test]
    fn the_cooldown_swallows_a_quick_second_episode_and_its_recovery() {
        let r = rule(10 * MIN, None, true);
        // Episode 1 at minute 0, over at 2; episode 2 at minute 3 (within 10 minutes of the last
        // notice at 2): silent, and so is its end. Episode 3 at minute 14: notified.
        let mut readings = vec![true, true, false, true, false];
        readings.extend(std::iter::repeat_n(false, 9));
        readings.push(true);
        let n = run(&r, &readings);
        assert_eq!(
            n,
            vec![
                (0, Transition::Triggered, 1),
                (2, Transition::Resolved, 1),
                (14, Transition::Triggered, 3),
            ]
        );
    }

    #[test]
    fn an_episode_the_cooldown_silenced_gets_no_reminders_and_no_recovery() {
        let r = rule(10 * MIN, Some(2 * MIN), true);
        // Episode 1 at 0, over at 1 (recovery at 1); episode 2 at 2 is within the cooldown of the
        // recovery notice and lasts until 8: silent all along, reminders and recovery included.
        let mut readings = vec![true, false];
        readings.extend(std::iter::repeat_n(true, 6));
        readings.push(false);
        let n = run(&r, &readings);
        assert_eq!(
            n,
            vec![(0, Transition::Triggered, 1), (1, Transition::Resolved, 1)]
        );
    }

    #[test]
    fn reminders_repeat_at_their_interval_while_the_condition_holds() {
        let r = rule(0, Some(3 * MIN), false);
        let n = run(&r, &[true; 8]);
        assert_eq!(
            n,
            vec![
                (0, Transition::Triggered, 1),
                (3, Transition::Reminder, 1),
                (6, Transition::Reminder, 1),
            ]
        );
    }

    #[test]
    fn keys_are_the_same_for_the_same_situation_and_differ_per_transition_and_channel() {
        let r = rule(0, Some(3 * MIN), true);
        let a = step(&r, None, "issue:1", true, None, 0).unwrap();
        let b = step(&r, None, "issue:1", true, None, 0).unwrap();
        let ga = group_key(r.id, "issue:1", a.state.episode);
        assert_eq!(ga, group_key(r.id, "issue:1", b.state.episode));
        let k1 = idempotency_key(&ga, Transition::Triggered, 0, 1);
        assert_eq!(k1, idempotency_key(&ga, Transition::Triggered, 0, 1));
        assert_ne!(k1, idempotency_key(&ga, Transition::Triggered, 0, 2));
        assert_ne!(k1, idempotency_key(&ga, Transition::Resolved, 0, 1));
        // The same reminder computed at two instants of its period has one key.
        let r1 = step(&r, Some(&a.state), "issue:1", true, None, 3 * MIN).unwrap();
        let r2 = step(&r, Some(&a.state), "issue:1", true, None, 3 * MIN + 20_000).unwrap();
        assert_eq!(r1.seq, r2.seq);
    }

    /// Runs levels one minute apart through `advance` with `k` evaluations to open; returns the
    /// notifications with their minute, and the last state.
    fn run_levels(
        rule: &AlertRule,
        k: u32,
        levels: &[Level],
    ) -> (Vec<(usize, Transition)>, Option<AlertState>) {
        let opening = Opening {
            evaluations: k,
            interval_ms: 30_000,
        };
        let mut state: Option<AlertState> = None;
        let mut out = Vec::new();
        for (minute, level) in levels.iter().enumerate() {
            let now = minute as i64 * MIN;
            if let Some(s) = advance(
                rule,
                state.as_ref(),
                "tenant:acme",
                *level,
                opening,
                Some(1.0),
                now,
            ) {
                if let Some(t) = s.notify {
                    out.push((minute, t));
                }
                state = Some(s.state);
            }
        }
        (out, state)
    }

    use Level::{Band, Over, Under};

    #[test]
    fn a_subject_hovering_around_the_threshold_opens_once_and_resolves_once() {
        let r = rule(0, None, true);
        // Over twice in a row opens (minute 3); in and out of the band around the threshold
        // changes nothing; under the lower bound resolves (minute 9), once.
        let levels = [
            Over, Band, Over, Over, Band, Over, Band, Band, Over, Under, Under, Band,
        ];
        let (sent, state) = run_levels(&r, 2, &levels);
        assert_eq!(sent, [(3, Transition::Triggered), (9, Transition::Resolved)]);
        let state = state.unwrap();
        assert_eq!((state.firing, state.episode, state.streak), (false, 1, 0));
    }

    #[test]
    fn a_streak_broken_by_one_evaluation_in_the_band_starts_over() {
        let r = rule(0, None, true);
        let (sent, _) = run_levels(&r, 3, &[Over, Over, Band, Over, Over, Over]);
        assert_eq!(sent, [(5, Transition::Triggered)]);
        let (sent, _) = run_levels(&r, 3, &[Over, Over, Under, Over, Over]);
        assert!(sent.is_empty(), "{sent:?}");
    }

    #[test]
    fn the_streak_is_kept_in_the_state_and_counts_each_moment_once() {
        let r = rule(0, None, true);
        let opening = Opening {
            evaluations: 2,
            interval_ms: 30_000,
        };
        let first = advance(&r, None, "tenant:acme", Over, opening, Some(60.0), 0).unwrap();
        assert_eq!(
            (first.notify, first.state.streak, first.state.firing),
            (None, 1, false)
        );
        // A second leader evaluating the same moment from the stored state: no second count.
        let again = advance(
            &r,
            Some(&first.state),
            "tenant:acme",
            Over,
            opening,
            Some(60.0),
            2_000,
        );
        assert_eq!(again, None);
        // The next evaluation, from the state another node stored: the episode opens.
        let next = advance(
            &r,
            Some(&first.state),
            "tenant:acme",
            Over,
            opening,
            Some(61.0),
            MIN,
        )
        .unwrap();
        assert_eq!(next.notify, Some(Transition::Triggered));
        // An open episode has no streak: the next one starts from none.
        assert_eq!((next.state.streak, next.state.episode), (0, 1));
        // Out of the condition with nothing stored: nothing to write.
        assert_eq!(
            advance(&r, None, "tenant:beta", Under, opening, Some(0.0), 0),
            None
        );
    }

    #[test]
    fn a_moment_evaluated_twice_late_in_a_streak_counts_once() {
        let r = rule(0, None, true);
        let opening = Opening {
            evaluations: 3,
            interval_ms: 30_000,
        };
        let at = |prev: Option<&AlertState>, now: i64| {
            advance(&r, prev, "tenant:acme", Over, opening, Some(60.0), now)
        };
        let first = at(None, 0).unwrap();
        let second = at(Some(&first.state), 30_000).unwrap();
        assert_eq!((second.state.streak, second.notify), (2, None));
        // A second leader evaluating the moment of the second evaluation: no third count.
        assert_eq!(at(Some(&second.state), 31_000), None);
        assert_eq!(at(Some(&second.state), 44_000), None);
        // The third evaluation opens the episode.
        let third = at(Some(&second.state), 60_000).unwrap();
        assert_eq!(third.notify, Some(Transition::Triggered));
    }

    #[test]
    fn reminders_and_the_cooldown_apply_to_rules_with_hysteresis_too() {
        // A reminder every 3 minutes while open, the band included.
        let r = rule(0, Some(3 * MIN), true);
        let (sent, _) = run_levels(&r, 1, &[Over, Band, Band, Band, Under]);
        assert_eq!(
            sent,
            [
                (0, Transition::Triggered),
                (3, Transition::Reminder),
                (4, Transition::Resolved)
            ]
        );
        // A second episode within the cooldown of the first's recovery: silent, end included.
        let r = rule(10 * MIN, None, true);
        let (sent, _) = run_levels(&r, 2, &[Over, Over, Under, Over, Over, Under]);
        assert_eq!(sent, [(1, Transition::Triggered), (2, Transition::Resolved)]);
    }

    #[test]
    fn levels_place_a_value_against_the_threshold_and_the_lower_bound() {
        assert_eq!(Level::of(51.0, 50.0, false, 40.0), Over);
        assert_eq!(Level::of(50.0, 50.0, false, 40.0), Band);
        assert_eq!(Level::of(50.0, 50.0, true, 40.0), Over);
        assert_eq!(Level::of(40.0, 50.0, false, 40.0), Band);
        assert_eq!(Level::of(39.9, 50.0, false, 40.0), Under);
        assert_eq!(Level::holds(false), Under);
    }

    #[test]
    fn event_driven_firings_are_episodes_of_their_own_and_respect_the_cooldown() {
        let r = rule(30 * MIN, None, false);
        let a = fire(&r, None, "issue:1", 0);
        assert_eq!((a.notify, a.state.episode), (Some(Transition::Triggered), 1));
        let b = fire(&r, Some(&a.state), "issue:1", 10 * MIN);
        assert_eq!((b.notify, b.state.episode), (None, 2));
        let c = fire(&r, Some(&b.state), "issue:1", 31 * MIN);
        assert_eq!((c.notify, c.state.episode), (Some(Transition::Triggered), 3));
    }
}
