//! Decoded model documents, keyed by `(id, version, updated_at)` (issue 18).
//!
//! Every read of a model used to parse its whole JSON document (30–60 KB for a generated
//! model), and the list parsed every listed model to build its summary. A document only
//! changes through a version bump that also stamps `updated_at` (the version alone could
//! repeat after a restore followed by a different edit), so a decoded document found under
//! the row's current `(id, version, updated_at)` is exactly what parsing the row would give.
//! The cache sits behind the tenant check: callers read the row's key columns with the
//! caller's workspace in the `WHERE` clause first, and only then look here.
//!
//! Entries also keep the top-level fields of the document serialized once, which is most of
//! the `GET /api/models/{id}` answer. The cache is small and bounded (oldest insertion out
//! first), so memory stays flat however many models there are.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use crate::domain::{ModelSummary, ThreatModel, VerificationMap};

/// Models kept at most (a dashboard of 500 models cycles through; the models in use stay).
const CAPACITY: usize = 48;

/// Identity of one stored state of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// Path of the database file (tests open many databases in one process).
    pub db: String,
    pub id: String,
    pub version: i64,
    pub updated_at: String,
}

/// A decoded document.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The model.
    pub model: ThreatModel,
    /// Its top-level fields as compact JSON, in serialization order (built on first use).
    fields: OnceLock<Vec<(String, String)>>,
    /// The last summary computed, with the verification it was computed for: the summary
    /// assesses every control objective, which was the largest cost of listing models, and
    /// it only changes with the document (a new entry) or the verification (compared here).
    summary: Mutex<Option<(VerificationMap, ModelSummary)>>,
}

impl Decoded {
    pub(crate) fn new(model: ThreatModel) -> Self {
        Self {
            model,
            fields: OnceLock::new(),
            summary: Mutex::new(None),
        }
    }

    /// `model.summary(verification)`, reused while the verification is the same.
    pub(crate) fn summary(&self, verification: &VerificationMap) -> ModelSummary {
        let mut last = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, s)) = last.as_ref()
            && v == verification
        {
            return s.clone();
        }
        let s = self.model.summary(verification);
        *last = Some((verification.clone(), s.clone()));
        s
    }

    /// `(name, compact JSON)` of each top-level field of the document, in order.
    pub(crate) fn fields(&self) -> &[(String, String)] {
        self.fields
            .get_or_init(|| match serde_json::to_value(&self.model) {
                Ok(serde_json::Value::Object(map)) => {
                    map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
                }
                _ => Vec::new(),
            })
    }
}

/// The process's cache (model ids are UUIDs, and the key names the database file).
pub(crate) fn global() -> &'static ModelCache {
    static CACHE: OnceLock<ModelCache> = OnceLock::new();
    CACHE.get_or_init(ModelCache::default)
}

/// The cache; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Arc<Decoded>>,
    order: VecDeque<Key>,
}

impl ModelCache {
    /// The decoded document stored under `key`, if cached.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Decoded>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.map.get(key).cloned()
    }

    /// Keeps `decoded` under `key` (replacing older states of the same model).
    pub(crate) fn insert(&self, key: Key, decoded: Arc<Decoded>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner { map, order } = &mut *inner;
        // Older states of this model are never asked for again.
        if let Some(i) = order.iter().position(|k| k.id == key.id && k.db == key.db)
            && let Some(old) = order.remove(i)
        {
            map.remove(&old);
        }
        while order.len() >= CAPACITY {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => break,
            }
        }
        order.push_back(key.clone());
        map.insert(key, decoded);
    }

    /// Number of models held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn key(id: &str, version: i64) -> Key {
        Key {
            db: "t.db".into(),
            id: id.into(),
            version,
            updated_at: format!("2026-12-07T00:00:0{version}.000Z"),
        }
    }

    pub(crate) fn generated(id: &str) -> ThreatModel {
        let engine = crate::engine::BuiltinEngine::new(None).expect("engine catalog");
        crate::engine::generate_model(
            &engine,
            id,
            "An online shop with a login page, a shopping cart, card payments through a payment provider, an order database and e-mail receipts.",
            chrono::Utc::now(),
            &mut |_| {},
        )
        .expect("generate")
        .model
    }

    fn model(id: &str) -> Arc<Decoded> {
        static ONE: OnceLock<ThreatModel> = OnceLock::new();
        let mut m = ONE.get_or_init(|| generated("m")).clone();
        m.id = id.into();
        Arc::new(Decoded::new(m))
    }

    #[test]
    fn newer_state_replaces_older_and_size_is_bounded() {
        let cache = ModelCache::default();
        cache.insert(key("a", 1), model("a"));
        cache.insert(key("a", 2), model("a"));
        assert!(cache.get(&key("a", 1)).is_none());
        assert!(cache.get(&key("a", 2)).is_some());
        // Same version, other time: another state (a restore and a different edit).
        let mut other = key("a", 2);
        other.updated_at = "2026-12-08T00:00:00.000Z".into();
        assert!(cache.get(&other).is_none());
        for i in 0..(CAPACITY + 10) {
            cache.insert(key(&format!("m{i}"), 1), model("x"));
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(&key("m0", 1)).is_none());
        assert!(cache.get(&key(&format!("m{}", CAPACITY + 9), 1)).is_some());
    }

    #[test]
    fn summaries_follow_the_verification() {
        let m = generated("s");
        let d = Decoded::new(m.clone());
        let none = VerificationMap::new();
        assert_eq!(d.summary(&none), m.summary(&none));
        assert_eq!(d.summary(&none), m.summary(&none), "reused");
        let mut verified = VerificationMap::new();
        for c in &m.controls {
            verified.insert(c.id.clone(), crate::domain::VerificationStatus::Verified);
        }
        let fresh = d.summary(&verified);
        assert_eq!(fresh, m.summary(&verified));
        assert_ne!(
            fresh,
            m.summary(&none),
            "a new verification is a new summary"
        );
        assert_eq!(d.summary(&none), m.summary(&none), "and back");
    }
}
