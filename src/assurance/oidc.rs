//! OIDC CI attestation: a CI provider's identity token in `X-CI-Attestation`, verified
//! against the issuer's published keys (JWKS). Issuers are trusted by default (GitHub Actions,
//! GitLab.com) or per workspace; air-gapped appliances read JWKS from a local file
//! (`assurance.oidc_jwks_file`: `{"<issuer>": {"keys": [...]}}`) instead of fetching
//! `<issuer>/.well-known/openid-configuration`. Required claims (e.g. `repository`,
//! `environment`) pin tokens to one repository or protected environment.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};

use super::{Error, Result};

/// Issuers trusted on every workspace.
pub const DEFAULT_ISSUERS: &[&str] = &[
    "https://token.actions.githubusercontent.com",
    "https://gitlab.com",
];

/// Where issuer keys come from.
#[derive(Debug, Clone, Default)]
pub struct JwksSource {
    /// A local file mapping issuer → JWKS (air-gapped installs); consulted first.
    pub file: Option<std::path::PathBuf>,
    /// Fetch from the issuer over HTTPS when it is not in the file.
    pub fetch: bool,
}

static CACHE: Mutex<Option<HashMap<String, (Instant, Value)>>> = Mutex::new(None);
const CACHE_TTL: Duration = Duration::from_secs(3600);

fn bad(m: impl Into<String>) -> Error {
    Error::Attestation(format!("OIDC attestation rejected: {}", m.into()))
}

impl JwksSource {
    fn jwks(&self, issuer: &str) -> Result<Value> {
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read JWKS file {}: {e}", path.display())))?;
            let all: Value = serde_json::from_str(&text)
                .map_err(|e| bad(format!("JWKS file {} is not JSON: {e}", path.display())))?;
            if let Some(set) = all.get(issuer) {
                return Ok(set.clone());
            }
        }
        if !self.fetch {
            return Err(bad(format!(
                "no keys for issuer {issuer} (add them to the JWKS file)"
            )));
        }
        if let Some((at, v)) = CACHE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|m| m.get(issuer).cloned())
            && at.elapsed() < CACHE_TTL
        {
            return Ok(v);
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let config: Value = client
            .get(format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .map_err(|e| bad(format!("cannot fetch {issuer} discovery: {e}")))?;
        let uri = config
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("issuer discovery has no jwks_uri"))?;
        let set: Value = client
            .get(uri)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .map_err(|e| bad(format!("cannot fetch {uri}: {e}")))?;
        CACHE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(issuer.to_string(), (Instant::now(), set.clone()));
        Ok(set)
    }
}

fn b64u(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| bad("malformed JWK"))
}

fn unverified_claims(token: &str) -> Result<Map<String, Value>> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| bad("malformed token"))?;
    serde_json::from_slice(&b64u(payload)?).map_err(|_| bad("malformed token"))
}

/// Verifies a CI identity token: signature by one of the issuer's keys, a trusted issuer,
/// lifetime, and every required claim. Returns the verified claims (provenance).
pub fn verify(
    token: &str,
    trusted: &[String],
    required: &Map<String, Value>,
    source: &JwksSource,
) -> Result<Map<String, Value>> {
    let meta = Token::decode_metadata(token).map_err(|_| bad("malformed token"))?;
    let issuer = unverified_claims(token)?
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no iss claim"))?
        .to_string();
    let trusted_here = DEFAULT_ISSUERS.iter().any(|d| *d == issuer) || trusted.contains(&issuer);
    if !trusted_here {
        return Err(bad(format!(
            "issuer {issuer} is not trusted by this workspace"
        )));
    }
    let set = source.jwks(&issuer)?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("JWKS has no keys"))?;
    let kid = meta.key_id();
    let opts = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[issuer.as_str()])),
        time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(60)),
        ..Default::default()
    };
    let mut last = String::from("no matching key");
    for jwk in keys
        .iter()
        .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
    {
        let s = |k: &str| jwk.get(k).and_then(Value::as_str).unwrap_or_default();
        let verified = match (meta.algorithm(), s("kty")) {
            ("RS256", "RSA") => RS256PublicKey::from_components(&b64u(s("n"))?, &b64u(s("e"))?)
                .map_err(|e| bad(e.to_string()))?
                .verify_token::<Map<String, Value>>(token, Some(opts.clone())),
            ("ES256", "EC") => {
                let mut sec1 = vec![4u8];
                sec1.extend(b64u(s("x"))?);
                sec1.extend(b64u(s("y"))?);
                ES256PublicKey::from_bytes(&sec1)
                    .map_err(|e| bad(e.to_string()))?
                    .verify_token::<Map<String, Value>>(token, Some(opts.clone()))
            }
            (alg, _) if alg != "RS256" && alg != "ES256" => {
                return Err(bad(format!(
                    "algorithm {alg} is not accepted (RS256 or ES256)"
                )));
            }
            _ => continue,
        };
        match verified {
            Ok(claims) => {
                let mut all = claims.custom;
                all.insert("iss".into(), Value::String(issuer.clone()));
                if let Some(sub) = claims.subject {
                    all.insert("sub".into(), Value::String(sub));
                }
                if let Some(aud) = claims.audiences {
                    all.insert(
                        "aud".into(),
                        Value::String(aud.into_string().unwrap_or_default()),
                    );
                }
                for (claim, want) in required {
                    let have = all.get(claim);
                    let ok = match (have, want) {
                        (Some(Value::String(h)), Value::String(w)) => h == w,
                        (Some(h), w) => h == w,
                        (None, _) => false,
                    };
                    if !ok {
                        return Err(bad(format!(
                            "required claim {claim}={} not met (token has {})",
                            want,
                            have.map_or("nothing".to_string(), Value::to_string)
                        )));
                    }
                }
                return Ok(all);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(bad(format!("signature or claims invalid: {last}")))
}
