//! A small in-memory cache with a time-to-live and a hard cap on entries, for answers to
//! unauthenticated requests (the public badge) where the key comes from the client: without
//! the cap, every made-up id would add an entry for good.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Entries expire `ttl` after insertion; at `cap` entries the oldest insertion is evicted
/// first (expired ones go before live ones). Not thread-safe on its own: wrap it in a mutex.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl: Duration,
    cap: usize,
    map: HashMap<String, (Instant, V)>,
    /// Insertion order; an entry here is stale when the map holds a newer time for its key.
    order: VecDeque<(String, Instant)>,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache holding at most `cap` (at least one) entries for `ttl` each.
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            ttl,
            cap: cap.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The live value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<V> {
        self.map
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Stores `value` under `key`, evicting expired entries and, when still full, the oldest.
    pub fn insert(&mut self, key: String, value: V) {
        let now = Instant::now();
        self.evict_expired(now);
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                if !self.pop_oldest() {
                    break;
                }
            }
        }
        self.map.insert(key.clone(), (now, value));
        self.order.push_back((key, now));
        // Stale order entries (keys re-inserted) are bounded by the live ones.
        if self.order.len() > self.cap.saturating_mul(2) {
            let map = &self.map;
            self.order
                .retain(|(k, at)| map.get(k).is_some_and(|(t, _)| t == at));
        }
    }

    /// Number of entries held (live or not yet evicted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn evict_expired(&mut self, now: Instant) {
        while let Some((_, at)) = self.order.front() {
            if now.duration_since(*at) < self.ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Removes the oldest order entry (and its map entry when it is current).
    fn pop_oldest(&mut self) -> bool {
        let Some((key, at)) = self.order.pop_front() else {
            return false;
        };
        if self.map.get(&key).is_some_and(|(t, _)| *t == at) {
            self.map.remove(&key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_the_cap() {
        let mut c = TtlCache::new(Duration::from_secs(300), 100);
        for i in 0..10_000 {
            c.insert(format!("id-{i}"), i);
            assert!(c.len() <= 100);
        }
        // The newest stay, the oldest went.
        assert_eq!(c.get("id-9999"), Some(9999));
        assert_eq!(c.get("id-0"), None);
        // Re-inserting a key does not grow the cache or the order queue without bound.
        for _ in 0..1000 {
            c.insert("id-9999".into(), 1);
        }
        assert!(c.len() <= 100);
        assert!(c.order.len() <= 200);
    }

    #[test]
    fn entries_expire() {
        let mut c = TtlCache::new(Duration::from_millis(20), 10);
        c.insert("a".into(), 1);
        assert_eq!(c.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.get("a"), None);
        c.insert("b".into(), 2);
        assert_eq!(c.len(), 1, "the expired entry was evicted");
    }
}
