//! Space-Saving top-k (Metwally, Agrawal, El Abbadi, ICDT 2005): at most `capacity` counters,
//! whatever the number of distinct keys. A key that is counted is either tracked or evicts the
//! smallest counter, inheriting its count as `error`; so a tracked key's true count lies in
//! `[count - error, count]`, and any key with more than `total / capacity` occurrences is tracked.
//!
//! Summaries merge (Agarwal et al., "Mergeable summaries", PODS 2012): counts of keys tracked on
//! both sides add; a key missing on one side gets that side's minimum as count and error (it may
//! have been evicted there with up to that many); the merged summary keeps the `capacity` largest.
//! Minute buckets of one node, and the same minute from several nodes, combine this way, and the
//! result does not depend on the order of merging beyond the error bound.
//!
//! What the summary no longer tracks is its "other" share: `total` minus the tracked counts'
//! guaranteed part.
//!
//! An eviction scans the counters for the smallest (O(capacity)). The aggregator's hot path never
//! evicts: it counts a batch exactly and keeps its `capacity` largest keys (`from_counts`, a
//! summary with no error at all), then merges such summaries; `add` serves small streams and tests.

use super::FastMap;

/// One tracked key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    /// An upper bound of the key's occurrences.
    pub count: u64,
    /// How much of `count` may belong to keys it replaced: the true count is at least
    /// `count - error`.
    pub error: u64,
}

impl Counter {
    /// The occurrences the key surely had.
    pub fn guaranteed(&self) -> u64 {
        self.count - self.error
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SpaceSaving {
    capacity: usize,
    total: u64,
    counters: FastMap<String, (u64, u64)>,
}

impl SpaceSaving {
    /// A summary of at most `capacity` counters (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            total: 0,
            counters: FastMap::default(),
        }
    }

    /// The summary of exact counts: the `capacity` largest keys with no error. Every key left out
    /// had at most the smallest kept count, which is what `floor` (and so `merge`) assumes.
    pub fn from_counts<'a>(capacity: usize, counts: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut list: Vec<(&str, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        let total = list.iter().map(|(_, n)| n).sum();
        let capacity = capacity.max(1);
        if list.len() > capacity {
            list.select_nth_unstable_by(capacity - 1, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            list.truncate(capacity);
        }
        Self {
            capacity,
            total,
            counters: list.into_iter().map(|(k, n)| (k.to_owned(), (n, 0))).collect(),
        }
    }

    /// The bounds of `key`'s count when tracked: `(count, error)`.
    pub fn get(&self, key: &str) -> Option<Counter> {
        self.counters.get(key).map(|&(count, error)| Counter {
            key: key.to_owned(),
            count,
            error,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every occurrence counted, tracked or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.counters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }

    /// Counts `n` occurrences of `key`; answers the key it evicted to make room, if any.
    pub fn add(&mut self, key: &str, n: u64) -> Option<String> {
        if n == 0 {
            return None;
        }
        self.total += n;
        if let Some((count, _)) = self.counters.get_mut(key) {
            *count += n;
            return None;
        }
        if self.counters.len() < self.capacity {
            self.counters.insert(key.to_owned(), (n, 0));
            return None;
        }
        // Replace the smallest counter: the newcomer may have had up to its count before.
        let (smallest, min) = self
            .counters
            .iter()
            .min_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
            .map(|(k, (c, _))| (k.clone(), *c))
            .unwrap_or_default();
        self.counters.remove(&smallest);
        self.counters.insert(key.to_owned(), (min + n, min));
        Some(smallest)
    }

    /// Whether `key` has a counter.
    pub fn tracks(&self, key: &str) -> bool {
        self.counters.contains_key(key)
    }

    /// The smallest tracked count when full (what an untracked key may have had), else 0.
    pub fn floor(&self) -> u64 {
        if self.counters.len() < self.capacity {
            0
        } else {
            self.counters.values().map(|(c, _)| *c).min().unwrap_or(0)
        }
    }

    /// Adds `other` into this summary (see the module docs); the capacity stays this one's.
    pub fn merge(&mut self, other: &SpaceSaving) {
        self.absorb(other);
        self.truncate();
    }

    /// Adds `other` in without dropping any key: the summary may hold more than `capacity`
    /// counters until `truncate`. Merging many summaries this way and truncating once is exact
    /// where pairwise merges would have dropped keys in between, and it stays a valid summary at
    /// every step: a tracked key's count is at least the sum of the parts' floors, so `floor`
    /// (the smallest tracked count) still bounds every untracked key.
    pub fn absorb(&mut self, other: &SpaceSaving) {
        let (mine, theirs) = (self.floor(), other.floor());
        for (k, (c, e)) in self.counters.iter_mut() {
            let (oc, oe) = other.counters.get(k).copied().unwrap_or((theirs, theirs));
            *c += oc;
            *e += oe;
        }
        for (k, &(c, e)) in &other.counters {
            if !self.counters.contains_key(k) {
                self.counters.insert(k.clone(), (c + mine, e + mine));
            }
        }
        self.total += other.total;
    }

    /// Keeps the `capacity` largest counters (ties by key, so the same parts keep the same keys
    /// in any order).
    pub fn truncate(&mut self) {
        if self.counters.len() <= self.capacity {
            return;
        }
        let mut list: Vec<(&String, u64)> = self.counters.iter().map(|(k, v)| (k, v.0)).collect();
        list.select_nth_unstable_by(self.capacity - 1, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let dropped: Vec<String> = list[self.capacity..].iter().map(|(k, _)| (*k).clone()).collect();
        for k in dropped {
            self.counters.remove(&k);
        }
    }

    /// The tracked keys, largest count first (ties by key).
    pub fn top(&self, k: usize) -> Vec<Counter> {
        let mut list: Vec<Counter> = self
            .counters
            .iter()
            .map(|(key, &(count, error))| Counter {
                key: key.clone(),
                count,
                error,
            })
            .collect();
        list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        list.truncate(k);
        list
    }

    /// The occurrences of keys not tracked, at most (`total` minus what tracked keys surely had).
    pub fn other(&self) -> u64 {
        let sure: u64 = self.counters.values().map(|(c, e)| c - e).sum();
        self.total.saturating_sub(sure)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A deterministic stream: key `t{i}` for i in 0..n with Zipf-like weights, plus `heavy`
    /// holding `heavy_share` of all occurrences.
    fn stream(n: usize, heavy: u64) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = (0..n)
            .map(|i| (format!("t{i}"), 1 + (1_000 / (i as u64 + 1))))
            .collect();
        out.push(("heavy".into(), heavy));
        out
    }

    fn exact(items: &[(String, u64)]) -> HashMap<String, u64> {
        let mut m = HashMap::new();
        for (k, n) in items {
            *m.entry(k.clone()).or_default() += n;
        }
        m
    }

    #[test]
    fn a_key_above_total_over_capacity_is_tracked_and_bounds_hold() {
        // 50,000 keys through 100 counters, one holding about three quarters of everything.
        let items = stream(50_000, 200_000);
        let mut s = SpaceSaving::new(100);
        // Interleave the heavy key with the others, one occurrence at a time for it.
        let heavy_total = items.last().unwrap().1;
        let mut heavy_left = heavy_total;
        for (k, n) in &items[..items.len() - 1] {
            s.add(k, *n);
            let step = heavy_left.min(4);
            s.add("heavy", step);
            heavy_left -= step;
        }
        s.add("heavy", heavy_left);
        let truth = exact(&items);
        let total: u64 = truth.values().sum();
        assert_eq!(s.total(), total);
        assert!(s.len() <= 100);
        let top = s.top(3);
        assert_eq!(top[0].key, "heavy");
        let share = top[0].guaranteed() as f64 / total as f64;
        let true_share = heavy_total as f64 / total as f64;
        assert!((share - true_share).abs() < 0.01, "share {share} vs {true_share}");
        for c in s.top(100) {
            let t = truth[&c.key];
            assert!(c.guaranteed() <= t && t <= c.count, "{c:?} true {t}");
            assert!(c.error <= total / 100, "{c:?}");
        }
        assert!(s.other() <= total);
    }

    #[test]
    fn merged_halves_rank_as_the_whole_stream() {
        let items = stream(5_000, 40_000);
        let (mut a, mut b, mut whole) = (
            SpaceSaving::new(200),
            SpaceSaving::new(200),
            SpaceSaving::new(200),
        );
        for (i, (k, n)) in items.iter().enumerate() {
            // Split every key's occurrences between two nodes.
            let half = n / 2;
            if i % 2 == 0 {
                a.add(k, half);
                b.add(k, n - half);
            } else {
                b.add(k, half);
                a.add(k, n - half);
            }
            whole.add(k, *n);
        }
        a.merge(&b);
        assert_eq!(a.total(), whole.total());
        let keys = |s: &SpaceSaving| s.top(5).into_iter().map(|c| c.key).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&whole));
        let truth = exact(&items);
        for c in a.top(50) {
            let t = truth[&c.key];
            assert!(c.guaranteed() <= t && t <= c.count, "{c:?} true {t}");
        }
    }

    #[test]
    fn absorbing_many_parts_and_truncating_once_keeps_the_bounds_in_any_order() {
        // 40 parts of one stream, each cut to 100 counters, as the rows of a window are.
        let items = stream(20_000, 30_000);
        let truth = exact(&items);
        let parts: Vec<SpaceSaving> = items
            .chunks(items.len() / 40 + 1)
            .map(|part| {
                let m = exact(part);
                SpaceSaving::from_counts(100, m.iter().map(|(k, n)| (k.as_str(), *n)).collect::<Vec<_>>())
            })
            .collect();
        let absorb_all = |order: &mut dyn Iterator<Item = &SpaceSaving>| {
            let mut all = SpaceSaving::new(100);
            for p in order {
                all.absorb(p);
            }
            assert!(all.len() > 100, "nothing is dropped before the cut");
            all.truncate();
            all
        };
        let forward = absorb_all(&mut parts.iter());
        let backward = absorb_all(&mut parts.iter().rev());
        assert_eq!(forward.len(), 100);
        assert_eq!(forward.top(100), backward.top(100));
        assert_eq!(forward.total(), truth.values().sum::<u64>());
        assert_eq!(forward.top(1)[0].key, "heavy");
        for c in forward.top(100) {
            let t = truth[&c.key];
            assert!(c.guaranteed() <= t && t <= c.count, "{c:?} true {t}");
        }
    }

    #[test]
    fn a_summary_of_exact_counts_keeps_the_largest_and_merges_within_bounds() {
        let items = stream(3_000, 10_000);
        let truth = exact(&items);
        let half = items.len() / 2;
        let count = |part: &[(String, u64)]| {
            let m = exact(part);
            SpaceSaving::from_counts(100, m.iter().map(|(k, n)| (k.as_str(), *n)).collect::<Vec<_>>())
        };
        let (mut a, b) = (count(&items[..half]), count(&items[half..]));
        assert_eq!(a.len(), 100);
        assert!(a.top(100).iter().all(|c| c.error == 0));
        a.merge(&b);
        assert_eq!(a.total(), truth.values().sum::<u64>());
        assert_eq!(a.top(1)[0].key, "heavy");
        for c in a.top(100) {
            let t = truth[&c.key];
            assert!(c.guaranteed() <= t && t <= c.count, "{c:?} true {t}");
        }
        // Only in the second half: the first half's floor is its error.
        let heavy = a.get("heavy").unwrap();
        assert_eq!(heavy.guaranteed(), 10_000);
        assert!(heavy.error > 0 && heavy.error == heavy.count - 10_000);
        assert!(a.get("nobody").is_none());
    }

    #[test]
    fn few_keys_are_exact_and_nothing_is_other() {
        let mut s = SpaceSaving::new(10);
        for (k, n) in [("acme", 68), ("beta", 21), ("gamma", 7), ("delta", 4)] {
            s.add(k, n);
        }
        s.add("acme", 0);
        let top = s.top(10);
        let got: Vec<(&str, u64, u64)> = top.iter().map(|c| (c.key.as_str(), c.count, c.error)).collect();
        assert_eq!(
            got,
            [("acme", 68, 0), ("beta", 21, 0), ("gamma", 7, 0), ("delta", 4, 0)]
        );
        assert_eq!((s.total(), s.other(), s.floor()), (100, 0, 0));
    }
}
