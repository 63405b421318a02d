//! Structure-aware fuzzing of everything rampart parses from untrusted bytes (issue 15):
//! canonical JSON and content hashes, verification-results bodies (through the real
//! service and a real SQLCipher store), DSSE envelopes, JWTs (bearer and OIDC), assertion
//! parameters (server validation and every CI verifier), signed backups (trailer, gzip,
//! restore) and configuration files.
//!
//! Each target runs for `RAMPART_FUZZ_SECONDS` (default 2; `bench/fuzz.sh` runs long).
//! Properties: no panic; every rejection is a clear error; well-formed inputs are accepted;
//! nothing outside the project root is ever read by a verifier; refused restores change
//! nothing.

mod appliance;
mod runner;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use p256::ecdsa::signature::Signer as _;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use runner::{Outcome, fuzz};

// ---------------------------------------------------------------------------------------
// Generators

/// Strings that tend to break parsers and path checks.
const TRICKY: &[&str] = &[
    "",
    " ",
    "-",
    "--",
    "--config=x",
    "-rf",
    "..",
    "../",
    "../../etc/passwd",
    "/etc/passwd",
    "./",
    "a/../../b",
    "\\..\\..\\windows",
    "link.txt",
    "fifo",
    "outside",
    "src/../../outside/secret.txt",
    "**",
    "**/*",
    "**/*.py",
    "*",
    "?",
    "[",
    "(a*)*$",
    "(?P<x>",
    "\\",
    "a{1000}{1000}",
    "x{2147483647}",
    "\u{0}",
    "\u{7f}",
    "\u{202e}",
    "é😀",
    "\n\r\t",
    "true",
    "1",
    "null",
    "sha256:",
    "sha256:00",
    "feature_description",
    "app/upload.py",
    "nginx.conf",
    "config.json",
    "config.yaml",
    "settings.toml",
    "requirements.txt",
    "package.json",
    "Cargo.toml",
    "tests/test_auth.py",
    "OUTSIDE-SECRET-MARKER",
];

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(TRICKY).prop_map(str::to_string),
        2 => "[a-zA-Z0-9_./*?:= -]{0,24}",
        1 => any::<String>(),
    ]
}

fn key_string() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "id",
                "type",
                "params",
                "description",
                "assertion_id",
                "tier",
                "result",
                "details",
                "results",
                "pipeline",
                "content_hash",
                "signature",
                "signed_hash",
                "dsse_bundle",
                "bundle",
                "file",
                "name",
                "pattern",
                "payload",
                "payloadType",
                "subject",
                "digest",
                "sha256",
                "predicate",
                "model_id",
                "keys",
                "sub",
                "exp",
                "iat",
                "jti",
                "aud",
                "iss",
            ][..]
        )
        .prop_map(str::to_string),
        tricky_string(),
    ]
}

/// Any JSON value without floats (canonical JSON refuses to promise anything about floats).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn verdict() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["pass", "fail", "skipped"][..]).prop_map(str::to_string),
        1 => tricky_string(),
    ]
}

// ---------------------------------------------------------------------------------------
// Canonical JSON and content hashes

#[test]
fn canonical_json_and_content_hash() {
    let record = (tricky_string(), tricky_string(), any_json(), any_json()).prop_map(
        |(id, kind, params, description)| {
            json!({"id": id, "type": kind, "params": params, "description": description})
        },
    );
    let row = (tricky_string(), verdict(), any_json()).prop_map(|(id, result, extra)| {
        json!({"assertion_id": id, "tier": 1, "result": result, "details": extra})
    });
    let strategy = (
        any_json(),
        prop::collection::vec(record, 0..8),
        prop::collection::vec(row, 0..8),
    );
    fuzz("canonical_json", strategy, |(value, assertions, rows)| {
        let text = rampart::wire::canonical_json(&value);
        if !text.is_ascii() {
            return Err(format!("canonical JSON is not ASCII: {text}"));
        }
        let back: Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
        if back != value {
            return Err(format!("round trip changed the value: {text}"));
        }
        if rampart::wire::canonical_json(&back) != text {
            return Err("canonical JSON is not stable".into());
        }
        let hash = rampart::wire::content_hash(&assertions, &rows);
        let hex = hash.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!("malformed content hash {hash}"));
        }
        let by_id: BTreeMap<String, Value> = assertions
            .iter()
            .map(|a| (a["id"].as_str().unwrap_or("").to_string(), a.clone()))
            .collect();
        match rampart::wire::recompute_content_hash(&rows, |id| by_id.get(id).cloned()) {
            Ok(h) if h.starts_with("sha256:") => Ok(Outcome::Accepted),
            Ok(h) => Err(format!("malformed recomputed hash {h}")),
            Err(e) => Ok(Outcome::Rejected(e.to_string())),
        }
    });
}

// ---------------------------------------------------------------------------------------
// Verification-results bodies through the real service

#[derive(Debug, Clone)]
struct ResultsRecipe {
    /// (index into the served assertions, or past the end for an unknown id; tier; verdict)
    rows: Vec<(usize, u8, String)>,
    details: String,
    /// 0 right, 1 wrong, 2 missing, 3 garbage text, 4 not a string
    hash: u8,
    /// 0 none, 1 ECDSA right key, 2 ECDSA wrong key, 3 signed_hash of other rows,
    /// 4 DSSE bound, 5 DSSE other model, 6 DSSE garbage, 7 sigstore, 8 signature alone
    attest: u8,
    garbage: String,
    pipeline: Value,
    /// Replace one row field with an arbitrary value.
    row_mutation: Option<(usize, String, Value)>,
    /// Send these bytes instead.
    raw: Option<Vec<u8>>,
    /// Cut the body to this length.
    truncate: Option<usize>,
}

impl ResultsRecipe {
    fn well_formed(&self, served: usize) -> bool {
        let tiers: std::collections::BTreeSet<u8> = self.rows.iter().map(|r| r.1).collect();
        !self.rows.is_empty()
            && self.rows.iter().all(|(i, t, v)| {
                *i < served
                    && (*t == 1 || *t == 2)
                    && matches!(v.as_str(), "pass" | "fail" | "skipped")
            })
            && self.hash == 0
            && matches!(self.attest, 0 | 1 | 4 | 7)
            && !(self.attest == 4 && tiers.len() > 1)
            && self.row_mutation.is_none()
            && self.raw.is_none()
            && self.truncate.is_none()
            && self.pipeline.is_object()
    }
}

fn results_recipe() -> impl Strategy<Value = ResultsRecipe> {
    // The fixture serves 4 assertions: mostly known ids, sometimes an unknown one.
    let row = (
        prop_oneof![8 => 0usize..4, 1 => 4usize..8],
        prop_oneof![8 => 1u8..3, 1 => any::<u8>()],
        verdict(),
    );
    (
        prop::collection::vec(row, 0..10),
        tricky_string(),
        prop_oneof![3 => Just(0u8), 1 => 1u8..5],
        0u8..9,
        tricky_string(),
        prop_oneof![
            3 => Just(json!({"provider": "generic", "run_id": "1", "commit_sha": "abc", "branch": "main"})),
            1 => any_json(),
        ],
        prop::option::weighted(0.15, (0usize..10, key_string(), any_json())),
        prop::option::weighted(0.1, prop::collection::vec(any::<u8>(), 0..256)),
        prop::option::weighted(0.1, 0usize..400),
    )
        .prop_map(
            |(rows, details, hash, attest, garbage, pipeline, row_mutation, raw, truncate)| {
                ResultsRecipe {
                    rows,
                    details,
                    hash,
                    attest,
                    garbage,
                    pipeline,
                    row_mutation,
                    raw,
                    truncate,
                }
            },
        )
}

#[test]
fn verification_results_bodies() {
    let app = appliance::appliance();
    let other_key = p256::ecdsa::SigningKey::from_slice(&[78u8; 32]).expect("key");
    let submitter = rampart::assurance::runs::Submitter::Caller(app.caller.clone());
    fuzz("results_body", results_recipe(), |r| {
        let rows: Vec<Value> = r
            .rows
            .iter()
            .map(|(i, tier, v)| {
                let id = app
                    .served
                    .get(*i)
                    .and_then(|a| a["id"].as_str())
                    .unwrap_or("asrt_unknown");
                json!({"assertion_id": id, "tier": tier, "result": v, "details": r.details, "reasoning": "", "reviewer": "fuzz"})
            })
            .collect();
        let mut rows = rows;
        if let Some((i, key, value)) = &r.row_mutation
            && !rows.is_empty()
        {
            let n = rows.len();
            rows[i % n][key.as_str()] = value.clone();
        }
        let hashed: Vec<Value> = {
            let mut seen = std::collections::BTreeSet::new();
            rows.iter()
                .filter_map(|row| row["assertion_id"].as_str())
                .filter(|id| seen.insert(id.to_string()))
                .filter_map(|id| app.served.iter().find(|a| a["id"] == id))
                .map(|a| json!({"id": a["id"], "type": a["type"], "params": a["params"], "description": a["description"]}))
                .collect()
        };
        let right = rampart::wire::content_hash(&hashed, &rows);
        let mut body = json!({"pipeline": r.pipeline, "results": rows});
        match r.hash {
            0 => body["content_hash"] = json!(right),
            1 => body["content_hash"] = json!(rampart::wire::content_hash(&[], &[])),
            2 => {}
            3 => body["content_hash"] = json!(r.garbage),
            _ => body["content_hash"] = json!(7),
        }
        let tier = r.rows.first().map_or(1, |x| x.1);
        match r.attest {
            1..=3 => {
                let key = if r.attest == 2 {
                    &other_key
                } else {
                    &app.ci_key
                };
                let hash = if r.attest == 3 {
                    rampart::wire::content_hash(&[], &[])
                } else {
                    right.clone()
                };
                let (sig, signed) =
                    rampart::wire::sign_digest(key, &hash).map_err(|e| e.to_string())?;
                body["signature"] = json!(sig);
                body["signed_hash"] = json!(signed);
            }
            4 | 5 => {
                let model = if r.attest == 5 {
                    "another-model"
                } else {
                    app.model_id.as_str()
                };
                let bundle = rampart::wire::build_dsse_bundle(
                    &app.ci_key,
                    model,
                    tier,
                    &right,
                    &r.pipeline,
                    &hashed,
                    &rows,
                )
                .map_err(|e| e.to_string())?;
                body["dsse_bundle"] = json!(bundle);
            }
            6 => body["dsse_bundle"] = json!(r.garbage),
            7 => body["bundle"] = json!(r.garbage),
            8 => body["signature"] = json!(r.garbage),
            _ => {}
        }
        let mut bytes = match &r.raw {
            Some(raw) => raw.clone(),
            None => serde_json::to_vec(&body).map_err(|e| e.to_string())?,
        };
        if let Some(n) = r.truncate {
            bytes.truncate(n);
        }
        match app
            .assurance
            .submit_results(&submitter, &app.model_id, &bytes, None)
        {
            Ok(out) => {
                if !out["run_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("run_"))
                {
                    return Err(format!("accepted without a run_id: {out}"));
                }
                Ok(Outcome::Accepted)
            }
            Err(e) if r.well_formed(app.served.len()) => {
                Err(format!("a well-formed submission was refused: {e}"))
            }
            Err(e) => Ok(Outcome::Rejected(e.to_string())),
        }
    });
}

// ---------------------------------------------------------------------------------------
// DSSE envelopes

#[derive(Debug, Clone)]
enum DsseMutation {
    SetField(String, Value),
    RemoveField(String),
    FlipPayloadByte(usize),
    FlipSignatureByte(usize),
    ResignStatement(Value),
    Replace(String),
}

fn dsse_mutation() -> impl Strategy<Value = DsseMutation> {
    prop_oneof![
        (key_string(), any_json()).prop_map(|(k, v)| DsseMutation::SetField(k, v)),
        key_string().prop_map(DsseMutation::RemoveField),
        any::<usize>().prop_map(DsseMutation::FlipPayloadByte),
        any::<usize>().prop_map(DsseMutation::FlipSignatureByte),
        any_json().prop_map(DsseMutation::ResignStatement),
        tricky_string().prop_map(DsseMutation::Replace),
    ]
}

#[test]
fn dsse_envelopes() {
    let key = p256::ecdsa::SigningKey::from_slice(&[91u8; 32]).expect("key");
    let strategy = (
        tricky_string(),
        1u8..3,
        prop::collection::vec(any_json(), 0..4),
        prop::collection::vec(dsse_mutation(), 0..3),
    );
    fuzz(
        "dsse_envelope",
        strategy,
        |(model, tier, rows, mutations)| {
            let hash = rampart::wire::content_hash(&[], &rows);
            let bundle =
                rampart::wire::build_dsse_bundle(&key, &model, tier, &hash, &json!({}), &[], &rows)
                    .map_err(|e| e.to_string())?;
            let mut text = bundle;
            for m in &mutations {
                let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match m {
                    DsseMutation::SetField(k, val) => {
                        if let Value::Object(map) = &mut v {
                            map.insert(k.clone(), val.clone());
                        }
                    }
                    DsseMutation::RemoveField(k) => {
                        if let Value::Object(map) = &mut v {
                            map.remove(k);
                        }
                    }
                    DsseMutation::FlipPayloadByte(i) | DsseMutation::FlipSignatureByte(i) => {
                        let field = if matches!(m, DsseMutation::FlipPayloadByte(_)) {
                            "payload"
                        } else {
                            "signature"
                        };
                        if let Some(mut bytes) = v[field].as_str().and_then(|s| B64.decode(s).ok())
                            && !bytes.is_empty()
                        {
                            let n = bytes.len();
                            bytes[i % n] ^= 0x5a;
                            v[field] = json!(B64.encode(bytes));
                        }
                    }
                    DsseMutation::ResignStatement(statement) => {
                        let body = statement.to_string().into_bytes();
                        let sig: p256::ecdsa::Signature = key.sign(&rampart::wire::dsse::pae(
                            rampart::wire::dsse::PAYLOAD_TYPE,
                            &body,
                        ));
                        v = json!({"payloadType": rampart::wire::dsse::PAYLOAD_TYPE, "payload": B64.encode(&body), "signature": B64.encode(sig.to_der().as_bytes())});
                    }
                    DsseMutation::Replace(s) => {
                        text = s.clone();
                        continue;
                    }
                }
                text = v.to_string();
            }
            let plain = rampart::wire::verify_dsse_bundle(key.verifying_key(), &text, Some(&hash));
            let bound =
                rampart::wire::verify_dsse_binding(key.verifying_key(), &text, &hash, &model, tier);
            if mutations.is_empty() && (plain.is_err() || bound.is_err()) {
                return Err(format!(
                    "an untouched bundle was refused: {plain:?} / {bound:?}"
                ));
            }
            if bound.is_ok() && plain.is_err() {
                return Err("binding accepted what the signature check refused".into());
            }
            match bound {
                Ok(_) => Ok(Outcome::Accepted),
                Err(e) => Ok(Outcome::Rejected(e.to_string())),
            }
        },
    );
}

// ---------------------------------------------------------------------------------------
// JWTs: the manual flow's bearer tokens and OIDC identity tokens

#[derive(Debug, Clone)]
struct JwtRecipe {
    /// 0 ES256 header, 1 other alg, 2 arbitrary JSON, 3 not base64
    header: u8,
    alg: String,
    header_json: Value,
    /// Claims: start from valid ones, then overwrite with `extra`.
    valid_claims: bool,
    extra: Vec<(String, Value)>,
    /// 0 right key, 1 wrong key, 2 random bytes, 3 empty
    signer: u8,
    junk: Vec<u8>,
    /// 0 as is, 1 extra segment, 2 two segments, 3 arbitrary text
    shape: u8,
    text: String,
}

fn jwt_recipe() -> impl Strategy<Value = JwtRecipe> {
    let claim = (
        prop_oneof![
            select(
                &[
                    "sub",
                    "exp",
                    "iat",
                    "nbf",
                    "jti",
                    "iss",
                    "aud",
                    "repository"
                ][..]
            )
            .prop_map(str::to_string),
            key_string(),
        ],
        prop_oneof![
            any_json(),
            (-10_000i64..10_000).prop_map(|d| json!(chrono::Utc::now().timestamp() + d)),
        ],
    );
    (
        prop_oneof![3 => Just(0u8), 1 => 1u8..4],
        select(&["RS256", "HS256", "none", "ES384", "EdDSA", ""][..]).prop_map(str::to_string),
        any_json(),
        any::<bool>(),
        prop::collection::vec(claim, 0..4),
        prop_oneof![3 => Just(0u8), 1 => 1u8..4],
        prop::collection::vec(any::<u8>(), 0..80),
        prop_oneof![4 => Just(0u8), 1 => 1u8..4],
        tricky_string(),
    )
        .prop_map(
            |(header, alg, header_json, valid_claims, extra, signer, junk, shape, text)| {
                JwtRecipe {
                    header,
                    alg,
                    header_json,
                    valid_claims,
                    extra,
                    signer,
                    junk,
                    shape,
                    text,
                }
            },
        )
}

fn build_jwt(
    r: &JwtRecipe,
    base: Map<String, Value>,
    kid: Option<&str>,
    key: &p256::ecdsa::SigningKey,
    wrong: &p256::ecdsa::SigningKey,
) -> String {
    let mut header = json!({"alg": "ES256", "typ": "JWT"});
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    let header_text = match r.header {
        0 => B64URL.encode(header.to_string()),
        1 => B64URL.encode(json!({"alg": r.alg, "typ": "JWT"}).to_string()),
        2 => B64URL.encode(r.header_json.to_string()),
        _ => r.text.clone(),
    };
    let mut claims = if r.valid_claims { base } else { Map::new() };
    for (k, v) in &r.extra {
        claims.insert(k.clone(), v.clone());
    }
    let signing_input = format!(
        "{header_text}.{}",
        B64URL.encode(Value::Object(claims).to_string())
    );
    let sig = match r.signer {
        0 | 1 => {
            let k = if r.signer == 0 { key } else { wrong };
            let s: p256::ecdsa::Signature = k.sign(signing_input.as_bytes());
            B64URL.encode(s.to_bytes())
        }
        2 => B64URL.encode(&r.junk),
        _ => String::new(),
    };
    match r.shape {
        0 => format!("{signing_input}.{sig}"),
        1 => format!("{signing_input}.{sig}.{}", r.text),
        2 => signing_input,
        _ => r.text.clone(),
    }
}

#[test]
fn jwts() {
    let app = appliance::appliance();
    let wrong = p256::ecdsa::SigningKey::from_slice(&[79u8; 32]).expect("key");
    let ws = app.caller.workspace_id.clone();
    // OIDC: a local JWKS file for one issuer whose key is the fuzzer's.
    let issuer = "https://ci.fuzz.example";
    let point = app.ci_key.verifying_key().to_sec1_point(false);
    let xy = point.as_bytes();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "x": B64URL.encode(&xy[1..33]), "y": B64URL.encode(&xy[33..65])});
    let jwks_file = app._dir.path().join("jwks.json");
    std::fs::write(&jwks_file, json!({issuer: {"keys": [jwk]}}).to_string()).expect("jwks");
    let source = rampart::assurance::oidc::JwksSource {
        file: Some(jwks_file),
        fetch: false,
        allow_private: false,
    };
    let issuers = vec![issuer.to_string()];
    let required: Map<String, Value> =
        serde_json::from_value(json!({"repository": "acme/web"})).expect("claims");
    let policy = rampart::assurance::oidc::Policy {
        trusted_issuers: &issuers,
        required_claims: &required,
        audience: "http://localhost:8080",
    };
    let conn = app.instance.db.conn().expect("conn");
    let mut counter = 0u64;
    fuzz("jwt", jwt_recipe(), |r| {
        counter += 1;
        let now = chrono::Utc::now().timestamp();
        let mut bearer_claims = Map::new();
        bearer_claims.insert("sub".into(), json!(ws));
        bearer_claims.insert("iat".into(), json!(now));
        bearer_claims.insert("exp".into(), json!(now + 120));
        bearer_claims.insert("jti".into(), json!(format!("fuzz-{counter}")));
        let bearer = build_jwt(&r, bearer_claims, None, &app.ci_key, &wrong);
        let pristine =
            r.header == 0 && r.valid_claims && r.extra.is_empty() && r.signer == 0 && r.shape == 0;
        let outcome = match rampart::assurance::attestation::verify_bearer(&conn, &bearer) {
            Ok(w) if w == ws => Outcome::Accepted,
            Ok(w) => return Err(format!("bearer token accepted for another workspace {w}")),
            Err(e) if pristine => return Err(format!("a valid bearer token was refused: {e}")),
            Err(e) => Outcome::Rejected(e.to_string()),
        };
        if let Err(e) = rampart::wire::verify_es256_jwt(app.ci_key.verifying_key(), &bearer) {
            runner::clear(&e.to_string())?;
        }
        let mut oidc_claims = Map::new();
        oidc_claims.insert("iss".into(), json!(issuer));
        oidc_claims.insert("aud".into(), json!("http://localhost:8080"));
        oidc_claims.insert("iat".into(), json!(now));
        oidc_claims.insert("exp".into(), json!(now + 120));
        oidc_claims.insert("repository".into(), json!("acme/web"));
        let oidc = build_jwt(&r, oidc_claims, Some("k1"), &app.ci_key, &wrong);
        match rampart::assurance::oidc::verify(&oidc, &policy, &source) {
            Ok(_) => {}
            Err(e) if pristine => return Err(format!("a valid OIDC token was refused: {e}")),
            Err(e) => runner::clear(&e.to_string())?,
        }
        Ok(outcome)
    });
}

// ---------------------------------------------------------------------------------------
// Assertion parameters: server-side validation and every CI verifier

const PARAM_KEYS: &[&str] = &[
    "file",
    "name",
    "pattern",
    "patterns",
    "target",
    "target_content",
    "scope_start",
    "scope_end",
    "multiline",
    "dotall",
    "expected_hash",
    "algorithm",
    "decorator",
    "function",
    "caller",
    "callee",
    "parameter",
    "module",
    "key",
    "variable",
    "manifest",
    "package",
    "constraint",
    "middleware",
    "header",
    "test_name",
    "timeout",
];

fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => tricky_string().prop_map(Value::String),
        1 => prop::collection::vec(tricky_string().prop_map(Value::String), 0..4).prop_map(Value::Array),
        1 => any_json(),
        1 => any::<f64>().prop_map(|f| json!(f)),
    ]
}

/// Plausible values for a parameter by its name (then the tricky ones).
fn text_for(name: &str) -> BoxedStrategy<String> {
    let plausible: &'static [&'static str] = match name {
        "file" | "manifest" => &[
            "app/upload.py",
            "app/server.js",
            "nginx.conf",
            "config.json",
            "config.yaml",
            "settings.toml",
            "requirements.txt",
            "package.json",
            "Cargo.toml",
            "tests/test_auth.py",
            "src/cfg.py",
            "**/*.py",
            "app/*",
            "link.txt",
            "outdir/secret.txt",
            "fifo",
            "../outside/secret.txt",
        ],
        "name" | "function" | "caller" | "callee" => {
            &["handle_upload", "login", "check", "auth", "os.environ.get"]
        }
        "pattern" | "scope_start" | "scope_end" => &[
            "Strict-Transport-Security",
            "\\beval\\(",
            "def \\w+",
            "^import",
            "(?s).*",
            "x{0}",
            "tests/test_*.py",
            "**/*.py",
        ],
        "key" => &["session.timeout", "hsts", "server.port", "debug"],
        "package" => &["cryptography", "flask", "express", "serde"],
        "constraint" => &[">=41.0", "==3.0.0", "^4", "~=1.2", "<1"],
        "module" => &["os", "flask", "express"],
        "variable" => &["UPLOAD_DIR", "API_KEY"],
        "decorator" => &["require_auth", "@require_auth"],
        "header" => &["X-Content-Type-Options", "Strict-Transport-Security"],
        "algorithm" => &["sha256", "md5", "sha3"],
        "test_name" => &["test_login_rejects_expired", "test_*", "TestAuth::test_x"],
        "target" => &["feature_description"],
        _ => &["x"],
    };
    prop_oneof![2 => select(plausible).prop_map(str::to_string), 1 => tricky_string()].boxed()
}

fn value_for(p: &rampart::assurance::types::Param) -> BoxedStrategy<Value> {
    use rampart::assurance::types::ParamKind;
    let right = match p.kind {
        ParamKind::Text => text_for(p.name).prop_map(Value::String).boxed(),
        ParamKind::TextList => {
            prop::collection::vec(text_for("pattern").prop_map(Value::String), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        ParamKind::Flag => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            select(&["true", "false", "1", "0", "yes"][..]).prop_map(|s| json!(s)),
        ]
        .boxed(),
    };
    prop_oneof![8 => right, 1 => param_value()].boxed()
}

/// Params shaped by the type's schema (each parameter present or not, values plausible or
/// tricky), plus occasional unknown keys.
fn params_for(kind: &'static str) -> BoxedStrategy<Value> {
    let slots: Vec<BoxedStrategy<Option<(String, Value)>>> =
        match rampart::assurance::types::lookup(kind) {
            Some(t) => t
                .params
                .iter()
                .map(|p| {
                    let name = p.name.to_string();
                    prop::option::weighted(if p.required { 0.9 } else { 0.3 }, value_for(p))
                        .prop_map(move |v| v.map(|v| (name.clone(), v)))
                        .boxed()
                })
                .collect(),
            None => Vec::new(),
        };
    let extra = prop_oneof![
        4 => Just(Vec::new()),
        1 => prop::collection::vec(
            (
                prop_oneof![5 => select(PARAM_KEYS).prop_map(str::to_string), 1 => key_string()],
                param_value(),
            ),
            1..3,
        ),
    ];
    (slots, extra)
        .prop_map(|(slots, extra)| {
            let mut map = Map::new();
            for (k, v) in slots.into_iter().flatten() {
                map.insert(k, v);
            }
            for (k, v) in extra {
                map.insert(k, v);
            }
            Value::Object(map)
        })
        .boxed()
}

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
    std::fs::write(
        dir.path().join("outside/secret.txt"),
        "OUTSIDE-SECRET-MARKER password = \"hunter2\"\n",
    )
    .expect("write");
    let root = dir.path().join("project");
    let files: &[(&str, &str)] = &[
        (
            "app/upload.py",
            "import os\nfrom flask import Flask\n\n@require_auth\ndef handle_upload(request):\n    try:\n        check(request.body)\n    except ValueError:\n        raise\n    return os.environ.get('UPLOAD_DIR')\n",
        ),
        (
            "app/server.js",
            "const express = require('express');\napp.use(helmet());\nres.set('X-Content-Type-Options', 'nosniff');\nfunction login(user) { try { auth(user) } catch (e) { throw e } }\n",
        ),
        (
            "nginx.conf",
            "add_header Strict-Transport-Security \"max-age=31536000\";\n",
        ),
        (
            "config.json",
            "{\"session\": {\"timeout\": 900}, \"debug\": false}",
        ),
        ("config.yaml", "session:\n  timeout: 900\nhsts: true\n"),
        ("settings.toml", "[server]\nport = 8080\n"),
        ("requirements.txt", "cryptography>=41.0\nflask==3.0.0\n"),
        (
            "package.json",
            "{\"dependencies\": {\"express\": \"^4.18.0\"}}",
        ),
        (
            "Cargo.toml",
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n[dependencies]\nserde = \"1\"\n",
        ),
        (
            "tests/test_auth.py",
            "def test_login_rejects_expired():\n    assert True\n",
        ),
        ("src/cfg.py", "API_KEY = os.getenv('API_KEY')\n"),
    ];
    for (p, text) in files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), root.join("link.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("outside"), root.join("outdir")).expect("symlink");
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");
    (dir, root)
}

#[test]
fn assertion_parameters() {
    let (_dir, root) = project();
    let ws = rampart::verify::Workspace::new(&root).expect("workspace");
    let kinds: Vec<&'static str> = rampart::verify::TYPES
        .iter()
        .copied()
        .chain(["sink_default_deny", ""])
        .collect();
    let strategy = select(kinds).prop_flat_map(|kind| (Just(kind), params_for(kind)));
    fuzz("assertion_params", strategy, |(kind, params)| {
        let server = rampart::assurance::types::validate(kind, &params);
        let server = server.map_err(|e| format!("{}: {}", e.field, e.message));
        if let Err(e) = &server {
            runner::clear(e)?;
            if e.starts_with(": ") {
                return Err(format!("a parameter error names no field: {e}"));
            }
        }
        if kind == "test_passes" {
            // Never spawn runners here; check the command-building rules instead.
            return test_command_rules(&ws, &params).map(|()| match server {
                Ok(_) => Outcome::Accepted,
                Err(e) => Outcome::Rejected(e),
            });
        }
        let verdict = rampart::verify::run_check(&ws, kind, &params);
        if verdict.details.trim().is_empty() {
            return Err("a verdict without details".into());
        }
        if verdict.details.contains("OUTSIDE-SECRET")
            && !params.to_string().contains("OUTSIDE-SECRET")
        {
            return Err(format!(
                "a verifier read outside the project root: {}",
                verdict.details
            ));
        }
        // A file parameter that leads outside the root (lexically or through a symlink) is
        // never read, so it can never make an assertion pass.
        let read_key = if kind.starts_with("dependency_") {
            "manifest"
        } else {
            "file"
        };
        // (test_exists with a `pattern` globs the walked tree and ignores `file`.)
        let ignores_file =
            kind == "test_exists" && params.get("pattern").is_some_and(|p| !p.is_null());
        let escapes = params.get("target").is_none()
            && !ignores_file
            && params[read_key].as_str().is_some_and(|f| {
                f.starts_with('/')
                    || f.contains("..")
                    || f.starts_with("link.txt")
                    || f.starts_with("outdir")
            });
        if escapes && verdict.passed {
            return Err(format!(
                "an assertion on a file outside the root passed: {}",
                verdict.details
            ));
        }
        Ok(match server {
            Ok(_) => Outcome::Accepted,
            Err(e) => Outcome::Rejected(e),
        })
    });
}

/// For `test_passes`: whenever file and name pass the grammar, the command never carries an
/// assertion value as an option.
fn test_command_rules(ws: &rampart::verify::Workspace, params: &Value) -> Result<(), String> {
    use rampart::verify::testrun::{Runner, build_command, check_test_file, check_test_name};
    let file = params["file"].as_str().unwrap_or("");
    let name = params["test_name"].as_str().unwrap_or("");
    let Ok(file) = check_test_file(file) else {
        return Ok(());
    };
    for runner in [
        Runner::Pytest,
        Runner::Cargo,
        Runner::Go,
        Runner::JavaScript,
    ] {
        if check_test_name(runner, name).is_err() {
            continue;
        }
        if name.starts_with('-')
            || name
                .chars()
                .any(|c| c.is_control() || c == '=' || c == '\'' || c == '"')
        {
            return Err(format!("grammar accepted {name:?} for {runner:?}"));
        }
        let cmd = build_command(ws, runner, &file, name);
        let mut after_end = false;
        let mut prev = "";
        for arg in &cmd.args {
            let fixed = matches!(
                arg.as_str(),
                "-m" | "pytest"
                    | "-q"
                    | "--no-header"
                    | "-p"
                    | "no:cacheprovider"
                    | "test"
                    | "--quiet"
                    | "-count=1"
                    | "-v"
                    | "--ci"
                    | "--runTestsByPath"
                    | "-k"
                    | "--test"
            ) || ["-run=^", "--testNamePattern=", "--test-name-pattern="]
                .iter()
                .any(|p| arg.starts_with(p));
            let ok = fixed
                || arg == "--"
                || arg.starts_with("./")
                || arg == "."
                || (after_end && !arg.starts_with('-'))
                || (prev == "-k" && !arg.starts_with('-'));
            if !ok {
                return Err(format!("argument {arg:?} of {cmd:?} may read as an option"));
            }
            if arg == "--" {
                after_end = true;
            }
            prev = arg;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Signed backups: trailer, gzip stream, restore

#[derive(Debug, Clone)]
struct BackupRecipe {
    /// 0 gzip of data, 1 raw data, 2 truncated gzip, 3 gzip + junk, 4 two gzip members
    payload: u8,
    data: Vec<u8>,
    /// 0 instance key, 1 unknown fingerprint, 2 instance fingerprint with a wrong signature
    signer: u8,
    /// (offset from the end, xor)
    flip: Option<(usize, u8)>,
    cut: usize,
    extra: Vec<u8>,
}

fn backup_recipe() -> impl Strategy<Value = BackupRecipe> {
    (
        0u8..5,
        prop::collection::vec(any::<u8>(), 0..4096),
        prop_oneof![3 => Just(0u8), 1 => 1u8..3],
        prop::option::weighted(0.2, (0usize..200, 1u8..=255)),
        prop_oneof![6 => Just(0usize), 1 => 0usize..120],
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(payload, data, signer, flip, cut, extra)| BackupRecipe {
            payload,
            data,
            signer,
            flip,
            cut,
            extra,
        })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

#[test]
fn signed_backups() {
    use sha2::Digest as _;
    let app = appliance::appliance();
    let admin = rampart::admin::AdminService::from_instance(&app.instance).expect("admin");
    let key = admin.instance_signing_key();
    let users_before = app.auth.list_users_unchecked().expect("users").len();
    let work = tempfile::tempdir().expect("tmp");
    let mut n = 0u64;
    // Rejections from past the signature check (gzip stream, SQLite image), so the run is
    // known to reach the decompressor and not only the trailer.
    let mut deep = 0u64;
    fuzz("backup", backup_recipe(), |r| {
        n += 1;
        let payload = match r.payload {
            0 => gzip(&r.data),
            1 => r.data.clone(),
            2 => {
                let g = gzip(&r.data);
                g[..g.len() / 2].to_vec()
            }
            3 => {
                let mut g = gzip(&r.data);
                g.extend_from_slice(&r.extra);
                g
            }
            _ => {
                let mut g = gzip(&r.data);
                g.extend(gzip(&r.extra));
                g
            }
        };
        let digest: [u8; 32] = sha2::Sha256::digest(&payload).into();
        let (fingerprint, signature) = match r.signer {
            0 => (key.fingerprint(), key.sign_sha256(&digest)),
            1 => ([0x42u8; 32], key.sign_sha256(&digest)),
            _ => (key.fingerprint(), key.sign_sha256(&[0u8; 32])),
        };
        let mut file = payload;
        file.extend(rampart::crypto::backup_format::encode(
            &fingerprint,
            &signature,
        ));
        if let Some((off, x)) = r.flip
            && !file.is_empty()
        {
            let len = file.len();
            let i = len - 1 - (off % len);
            file[i] ^= x;
        }
        file.truncate(file.len().saturating_sub(r.cut));
        let path = work.path().join(format!("b{n}.signed"));
        std::fs::write(&path, &file).map_err(|e| e.to_string())?;
        let verified = admin.verify_backup(&path, &mut |_| {});
        if let Err(e) = &verified {
            runner::clear(&e.to_string())?;
        }
        let request = rampart::admin::RestoreRequest {
            confirmation: rampart::admin::RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "fuzz".into(),
            note: "fuzz via test".into(),
        };
        let restored = admin.restore(
            &path,
            &request,
            &rampart::admin::NoLocalAccounts,
            &mut |_| {},
        );
        let _ = std::fs::remove_file(&path);
        match restored {
            Ok(s) => Err(format!("a fuzzed file was restored: {s:?}")),
            Err(e) => {
                let m = e.to_string();
                if m.contains("gzip")
                    || m.contains("SQLite")
                    || m.contains("database in the backup")
                {
                    deep += 1;
                }
                Ok(Outcome::Rejected(m))
            }
        }
    });
    assert!(deep > 0, "no input reached the decompressor");
    println!("fuzz backup: {deep} inputs were refused after decompression started");
    // Every restore was refused, so the live data is what it was.
    assert_eq!(
        app.auth.list_users_unchecked().expect("users").len(),
        users_before
    );
    app.assurance
        .ci_assertions(&app.caller, &app.model_id, None, None, None)
        .expect("the live database still answers");
}

// ---------------------------------------------------------------------------------------
// Configuration files and environment

#[derive(Debug, Clone)]
struct ConfigRecipe {
    /// (key index or an unknown key, value)
    entries: Vec<(Option<usize>, String, Value)>,
    env: Vec<(Option<usize>, String, String)>,
    garbage: Option<String>,
}

fn toml_literal(v: &Value) -> String {
    match v {
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(toml_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Null => "\"\"".into(),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {}", toml::Value::String(k.clone()), toml_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn config_recipe() -> impl Strategy<Value = ConfigRecipe> {
    let n = rampart::config::KEYS.len();
    let value = prop_oneof![
        tricky_string().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        prop::collection::vec(tricky_string().prop_map(Value::String), 0..3).prop_map(Value::Array),
        Just(json!("127.0.0.1:0")),
        Just(json!("https://rampart.example")),
    ];
    (
        prop::collection::vec(
            (prop::option::weighted(0.9, 0..n), "[a-z_.]{1,20}", value),
            0..8,
        ),
        prop::collection::vec(
            (
                prop::option::weighted(0.8, 0..n),
                "RAMPART_[A-Z_]{1,12}",
                tricky_string(),
            ),
            0..4,
        ),
        prop::option::weighted(0.1, any::<String>()),
    )
        .prop_map(|(entries, env, garbage)| ConfigRecipe {
            entries,
            env,
            garbage,
        })
}

#[test]
fn config_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut n = 0u64;
    fuzz("config", config_recipe(), |r| {
        n += 1;
        let keys = rampart::config::KEYS;
        let mut text = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (idx, unknown, value) in &r.entries {
            let key = idx.map_or(unknown.as_str(), |i| keys[i].key);
            // Repeating a key is a TOML syntax error, which the garbage case covers.
            if seen.insert(key.to_string()) {
                text.push_str(&format!("{key} = {}\n", toml_literal(value)));
            }
        }
        if let Some(g) = &r.garbage {
            text.push_str(g);
        }
        let path = dir.path().join(format!("c{n}.toml"));
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        let mut env = BTreeMap::new();
        for (idx, unknown, value) in &r.env {
            let name = idx
                .and_then(|i| keys[i].env.first().copied())
                .unwrap_or(unknown.as_str());
            env.insert(name.to_string(), value.clone());
        }
        // Keep the data dir inside the scratch dir whatever the input says.
        env.entry("RAMPART_DATA_DIR".into())
            .or_insert_with(|| dir.path().join("data").to_string_lossy().into_owned());
        let loaded = rampart::config::load(
            Some(&path),
            &env,
            &rampart::config::FlagOverrides::default(),
        );
        let _ = std::fs::remove_file(&path);
        match loaded {
            Ok(l) => {
                let _ = l.report();
                Ok(Outcome::Accepted)
            }
            Err(e) => Ok(Outcome::Rejected(e.to_string())),
        }
    });
}
