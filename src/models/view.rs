//! The `GET /api/models/{id}` body, written from the cached document (issue 18).
//!
//! The body used to be built as a `serde_json::Value` of the whole stored model (every asset,
//! attacker, objective and control as maps of values), edited, and serialized: most of the
//! cost of the request. It is now written from the document's top-level fields serialized
//! once per model version (see `cache`), plus the few per-request parts. The bytes are the
//! same as before, key order included: the old code removed keys from an insertion-ordered
//! map with `remove`, which moves the last key into the gap (`swap_remove`), and appended
//! the added keys; [`Entries`] does exactly that on a list.

use std::borrow::Cow;

use serde::Serialize;

use super::cache::Decoded;
use super::{Result, RowMeta};
use crate::domain::VerificationMap;

/// Top-level `(key, compact JSON)` entries of the body, in order.
struct Entries<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Entries<'a> {
    fn push_json(&mut self, key: &'a str, value: &impl Serialize) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|e| super::Error::Engine(e.to_string()))?;
        self.insert(key, Cow::Owned(json));
        Ok(())
    }

    /// `serde_json::Map::insert`: replaces in place, or appends.
    fn insert(&mut self, key: &'a str, value: Cow<'a, str>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((Cow::Borrowed(key), value)),
        }
    }

    /// `serde_json::Map::remove` with `preserve_order`: the last entry takes the gap.
    fn remove(&mut self, key: &str) {
        if let Some(i) = self.0.iter().position(|(k, _)| k == key) {
            self.0.swap_remove(i);
        }
    }

    fn write(&self) -> Result<String> {
        let len = self
            .0
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
            + 2;
        let mut out = String::with_capacity(len);
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let key = serde_json::to_string(k.as_ref())
                .map_err(|e| super::Error::Engine(e.to_string()))?;
            out.push_str(&key);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        Ok(out)
    }
}

/// The JSON body of `GET /api/models/{id}` (`include_cos`: the control objectives
/// themselves instead of their count).
pub(crate) fn model_body(
    meta: &RowMeta,
    decoded: &Decoded,
    verification: &VerificationMap,
    include_cos: bool,
) -> Result<String> {
    let model = &decoded.model;
    let mut e = Entries(
        decoded
            .fields()
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect(),
    );
    // The storage metadata, as `StoredModel` serializes it after the flattened model.
    e.push_json("workspace_id", &meta.workspace_id)?;
    e.push_json("source", &meta.source())?;
    e.push_json("badge_enabled", &meta.badge_enabled)?;
    e.push_json("repo_url", &meta.repo_url)?;
    if let Some(issue) = &meta.source_issue {
        e.push_json("source_issue", issue)?;
    }
    if !include_cos {
        e.remove("control_objectives");
        e.push_json("control_objectives_count", &model.control_objectives.len())?;
    }
    e.remove("counters");
    e.push_json(
        "description_provenance",
        &serde_json::json!({ "repo_url": meta.repo_url }),
    )?;
    e.push_json("summary", &decoded.summary(verification))?;
    e.push_json("verification", verification)?;
    e.write()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::models::{Source, StoredModel};

    /// The body as the handler built it before issue 18.
    fn old_body(stored: &StoredModel, verification: &VerificationMap, include_cos: bool) -> String {
        let summary = stored.model.summary(verification);
        let mut body = serde_json::to_value(stored).expect("value");
        if let Value::Object(map) = &mut body {
            if !include_cos {
                let n = stored.model.control_objectives.len();
                map.remove("control_objectives");
                map.insert("control_objectives_count".into(), json!(n));
            }
            map.remove("counters");
            map.insert(
                "description_provenance".into(),
                json!({ "repo_url": stored.repo_url }),
            );
            map.insert(
                "summary".into(),
                serde_json::to_value(summary).unwrap_or_default(),
            );
            map.insert("verification".into(), json!(verification));
        }
        serde_json::to_string(&body).expect("json")
    }

    #[test]
    fn body_is_byte_identical_to_the_value_built_one() {
        let model = crate::models::cache::tests::generated("m-view");
        let control = model.controls[0].id.clone();
        let mut verification = VerificationMap::new();
        verification.insert(control, crate::domain::VerificationStatus::Verified);
        for (source, issue, repo, badge) in [
            ("api", None, None, false),
            ("web", None, Some("https://git.example/acme/shop"), true),
            ("api", Some("SEC-12"), Some("https://git.example/x"), false),
        ] {
            let meta = RowMeta {
                workspace_id: "ws-1".into(),
                source: source.into(),
                badge_enabled: badge,
                repo_url: repo.map(Into::into),
                source_issue: issue.map(Into::into),
                version: model.version as i64,
                updated_at: "2026-12-07T00:00:00.000Z".into(),
            };
            let stored = meta.clone().into_stored(model.clone());
            assert_eq!(
                stored.source,
                if issue.is_some() {
                    Source::Jira
                } else {
                    Source::parse(source)
                }
            );
            let decoded = Decoded::new(model.clone());
            for include_cos in [false, true] {
                for v in [&VerificationMap::new(), &verification] {
                    assert_eq!(
                        model_body(&meta, &decoded, v, include_cos).expect("body"),
                        old_body(&stored, v, include_cos),
                        "source {source}, issue {issue:?}, include_cos {include_cos}"
                    );
                }
            }
        }
    }
}
