//! Canonical JSON text and the `content_hash` of contract §5.1.
//!
//! The text must equal Python's `json.dumps(x, sort_keys=True, separators=(",",":"))`
//! with `ensure_ascii=True` byte for byte, because the published CLI signs that text.
//! We write it with our own serializer over [`serde_json::Value`] instead of a
//! `serde_json::Formatter`, so key order never depends on whether some other crate turned on
//! serde_json's `preserve_order` feature.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Serializes `value` exactly as Python's `json.dumps(value, sort_keys=True,
/// separators=(",", ":"))` (ASCII-only output) does.
///
/// Floats are written as Python's `repr` would; they are fragile across languages, so
/// assertion creation should refuse them (see [`params_have_float`]).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                out.push_str(&python_float_repr(f));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Rust `str` ordering is byte order of UTF-8, which equals code point order.
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(&map[key.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `float.__repr__`: shortest round-trip digits, scientific notation when the
/// decimal exponent is < -4 or >= 16, exponent with sign and at least two digits.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "1.5e-7" or "-1e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // position of the decimal point within `digits`
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if (point as usize) >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

/// True when `value` contains a JSON float anywhere (at any depth).
///
/// Assertion creation refuses float params: Python and Rust print floats differently, so a
/// float would make the signed `content_hash` unreproducible (contract §5.1 step 4).
pub fn params_have_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(params_have_float),
        Value::Object(map) => map.values().any(params_have_float),
        _ => false,
    }
}

/// The `content_hash` of one tier's POST (contract §5.1 steps 1–5).
///
/// `assertions` is the tier's filtered assertion list as served (JSON objects, so that a
/// missing key and a `null` key stay distinct); `results` are that tier's result rows,
/// of which only `assertion_id` and `result` are read (last row wins).
/// Returns `"sha256:<64 lower hex>"`.
pub fn content_hash(assertions: &[Value], results: &[Value]) -> String {
    let text = canonical_records_text(assertions, results);
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The canonical text that [`content_hash`] hashes; exposed for audits and tests.
pub fn canonical_records_text(assertions: &[Value], results: &[Value]) -> String {
    let mut verdict: HashMap<String, Value> = HashMap::new();
    for row in results {
        if let Some(id) = row.get("assertion_id") {
            verdict.insert(
                key_of(id),
                row.get("result").cloned().unwrap_or(Value::Null),
            );
        }
    }
    let mut records: Vec<(Value, Value)> = Vec::with_capacity(assertions.len());
    for a in assertions {
        let field = |k: &str, default: Value| a.get(k).cloned().unwrap_or(default);
        let id = field("id", Value::String(String::new()));
        let v = verdict
            .get(&key_of(&id))
            .cloned()
            .unwrap_or_else(|| Value::String("skipped".into()));
        let mut rec = Map::new();
        rec.insert("assertion_id".into(), id.clone());
        rec.insert("type".into(), field("type", Value::String(String::new())));
        rec.insert("params".into(), field("params", Value::Object(Map::new())));
        rec.insert(
            "description".into(),
            field("description", Value::String(String::new())),
        );
        rec.insert("verdict".into(), v);
        records.push((id, Value::Object(rec)));
    }
    // Stable sort by assertion_id (code point order); duplicates keep their order.
    records.sort_by_key(|(id, _)| key_of(id));
    let list = Value::Array(records.into_iter().map(|(_, r)| r).collect());
    canonical_json(&list)
}

fn key_of(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => canonical_json(other),
    }
}

/// A result row names an assertion the server does not know (answer 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown assertion_id '{0}' in results")]
pub struct UnknownAssertion(pub String);

/// Server side of §5.2: rebuilds the hashed set from the **received rows** (one record per
/// row, so `--changed-files`, `--component` and repo filtering are all honoured), taking
/// each assertion's stored `type`, `params` and `description` as served via `lookup`, and
/// the row's `result` as verdict (last row wins). Compare the result with the POSTed
/// `content_hash`.
pub fn recompute_content_hash(
    rows: &[Value],
    lookup: impl Fn(&str) -> Option<Value>,
) -> Result<String, UnknownAssertion> {
    let mut assertions = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row
            .get("assertion_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let stored = lookup(id).ok_or_else(|| UnknownAssertion(id.to_string()))?;
        assertions.push(stored);
    }
    Ok(content_hash(&assertions, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn example_a_matches_contract() {
        let assertions = vec![
            json!({"id":"asrt_002","type":"pattern_matches","params":{"pattern":"Strict-Transport-Security","file":"nginx.conf"},"description":"HSTS header configured"}),
            json!({"id":"asrt_001","type":"function_exists","params":{"name":"verify_token","file":"app/auth.py"},"description":"Token check \u{2014} exists"}),
        ];
        let results = vec![
            json!({"assertion_id":"asrt_001","tier":1,"result":"pass"}),
            json!({"assertion_id":"asrt_002","tier":1,"result":"fail"}),
        ];
        assert_eq!(
            canonical_records_text(&assertions, &results),
            r#"[{"assertion_id":"asrt_001","description":"Token check \u2014 exists","params":{"file":"app/auth.py","name":"verify_token"},"type":"function_exists","verdict":"pass"},{"assertion_id":"asrt_002","description":"HSTS header configured","params":{"file":"nginx.conf","pattern":"Strict-Transport-Security"},"type":"pattern_matches","verdict":"fail"}]"#
        );
        assert_eq!(
            content_hash(&assertions, &results),
            "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd"
        );
    }

    #[test]
    fn example_b_matches_contract() {
        let assertions = vec![
            json!({"id":"b","type":"no_plaintext_secret","params":{"patterns":["AKIA[0-9A-Z]{16}","pass\\s*="],"file":"src/cfg.py","multiline":true,"n":3},"description":"tab\there \u{7f} \u{e9}\u{1F600} \"q\""}),
            json!({"id":"a","type":"file_exists","params":{"file":"README.md"}}),
            json!({"id":"c","type":"file_exists","params":{"file":"x"},"description":null}),
        ];
        let results = vec![
            json!({"assertion_id":"a","result":"pass"}),
            json!({"assertion_id":"b","result":"fail"}),
        ];
        assert_eq!(
            canonical_records_text(&assertions, &results),
            r#"[{"assertion_id":"a","description":"","params":{"file":"README.md"},"type":"file_exists","verdict":"pass"},{"assertion_id":"b","description":"tab\there \u007f \u00e9\ud83d\ude00 \"q\"","params":{"file":"src/cfg.py","multiline":true,"n":3,"patterns":["AKIA[0-9A-Z]{16}","pass\\s*="]},"type":"no_plaintext_secret","verdict":"fail"},{"assertion_id":"c","description":null,"params":{"file":"x"},"type":"file_exists","verdict":"skipped"}]"#
        );
        assert_eq!(
            content_hash(&assertions, &results),
            "sha256:f288af995e511b41b6a5d3299346715975d928bc1991818a200ecf67e42e213f"
        );
    }

    #[test]
    fn server_recompute_matches_client_hash() {
        let stored = [
            json!({"id":"asrt_002","type":"pattern_matches","params":{"pattern":"Strict-Transport-Security","file":"nginx.conf"},"description":"HSTS header configured"}),
            json!({"id":"asrt_001","type":"function_exists","params":{"name":"verify_token","file":"app/auth.py"},"description":"Token check \u{2014} exists"}),
        ];
        let lookup = |id: &str| stored.iter().find(|a| a["id"] == id).cloned();
        let rows = vec![
            json!({"assertion_id":"asrt_002","tier":1,"result":"fail"}),
            json!({"assertion_id":"asrt_001","tier":1,"result":"pass"}),
        ];
        assert_eq!(
            recompute_content_hash(&rows, lookup).expect("known"),
            "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd"
        );
        // A tampered verdict changes the hash; an unknown id is refused.
        let tampered = vec![
            rows[0].clone(),
            json!({"assertion_id":"asrt_001","tier":1,"result":"fail"}),
        ];
        assert_ne!(
            recompute_content_hash(&tampered, lookup).expect("known"),
            "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd"
        );
        let unknown = vec![json!({"assertion_id":"nope","result":"pass"})];
        assert_eq!(
            recompute_content_hash(&unknown, lookup),
            Err(UnknownAssertion("nope".into()))
        );
    }

    #[test]
    fn empty_list_hash() {
        assert_eq!(
            content_hash(&[], &[]),
            "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }

    #[test]
    fn last_row_wins_and_duplicates_stay() {
        let a = vec![json!({"id":"x","type":"t"}), json!({"id":"x","type":"u"})];
        let r = vec![
            json!({"assertion_id":"x","result":"fail"}),
            json!({"assertion_id":"x","result":"pass"}),
        ];
        let text = canonical_records_text(&a, &r);
        assert_eq!(
            text,
            r#"[{"assertion_id":"x","description":"","params":{},"type":"t","verdict":"pass"},{"assertion_id":"x","description":"","params":{},"type":"u","verdict":"pass"}]"#
        );
    }

    #[test]
    fn control_chars_and_floats() {
        assert_eq!(canonical_json(&json!("\u{1}/\u{c}")), r#""\u0001/\f""#);
        assert_eq!(python_float_repr(1e-7), "1e-07");
        assert_eq!(python_float_repr(1e16), "1e+16");
        assert_eq!(python_float_repr(1.5), "1.5");
        assert_eq!(python_float_repr(100.0), "100.0");
        assert_eq!(python_float_repr(0.0001), "0.0001");
        assert_eq!(python_float_repr(-2.5e-5), "-2.5e-05");
        assert_eq!(python_float_repr(1234567890123456.0), "1234567890123456.0");
    }

    #[test]
    fn float_detection() {
        assert!(params_have_float(&json!({"a":[1, {"b": 0.5}]})));
        assert!(!params_have_float(&json!({"a":[1, {"b": "0.5"}], "n": -3})));
    }
}
