//! OIDC CI attestation: a CI provider's identity token in `X-CI-Attestation`, verified
//! against the issuer's published keys (JWKS). Issuers are trusted by default (GitHub Actions,
//! GitLab.com) or per workspace; air-gapped appliances read JWKS from a local file
//! (`assurance.oidc_jwks_file`: `{"<issuer>": {"keys": [...]}}`) instead of fetching
//! `<issuer>/.well-known/openid-configuration`.
//!
//! A token counts only when it is bound to this appliance and to the workspace's code:
//! - its `aud` must be the workspace's audience (by default the appliance's public URL), so a
//!   token minted for another service cannot be replayed here;
//! - the workspace must require at least one repository/project claim ([`BINDING_CLAIMS`],
//!   e.g. `repository=acme/web`), and the token must carry every required claim, so a
//!   workflow in somebody else's repository cannot attest.
//!
//! Fetching issuer keys is a request the appliance makes on behalf of a workspace owner, so
//! it follows SSRF rules ([`JwksSource`]): only issuers the workspace trusts, `https` only,
//! never to private/loopback/link-local addresses unless the operator allows it
//! (`assurance.oidc_allow_private_networks`), the connection pinned to the vetted address,
//! `jwks_uri` and redirects only on the issuer's own host, bounded bodies, and one generic
//! error whatever went wrong (details go to the server log), so the feature is no network
//! probe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jwt_simple::prelude::*;
use reqwest::Url;
use serde_json::{Map, Value};

use super::{Error, Result};

/// Issuers trusted on every workspace.
pub const DEFAULT_ISSUERS: &[&str] = &[
    "https://token.actions.githubusercontent.com",
    "https://gitlab.com",
];

/// Claims that bind a token to a repository or project (GitHub: `repository`,
/// `repository_id`; GitLab: `project_path`, `project_id`). A workspace must require at least
/// one of them before OIDC attestation counts.
pub const BINDING_CLAIMS: &[&str] = &["repository", "repository_id", "project_path", "project_id"];

/// Largest discovery document or JWKS read from an issuer.
const MAX_BODY: u64 = 1024 * 1024;
/// Redirects followed (same host only).
const MAX_REDIRECTS: usize = 3;

/// Where issuer keys come from, and the rules for fetching them.
#[derive(Debug, Clone, Default)]
pub struct JwksSource {
    /// A local file mapping issuer → JWKS (air-gapped installs); consulted first.
    pub file: Option<std::path::PathBuf>,
    /// Fetch from the issuer when it is not in the file.
    pub fetch: bool,
    /// Allow private, loopback and link-local addresses and plain `http://` issuers.
    pub allow_private: bool,
}

/// What a workspace requires of an OIDC token.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Issuers trusted besides [`DEFAULT_ISSUERS`].
    pub trusted_issuers: &'a [String],
    /// Claims the token must carry, with their values.
    pub required_claims: &'a Map<String, Value>,
    /// The `aud` the token must name.
    pub audience: &'a str,
}

type Cache = Mutex<Option<HashMap<String, (Instant, std::result::Result<Value, ()>)>>>;
static CACHE: Cache = Mutex::new(None);
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// Failures are remembered briefly so a bad issuer is not fetched on every submission.
const FAILURE_TTL: Duration = Duration::from_secs(60);

fn bad(m: impl Into<String>) -> Error {
    Error::Attestation(format!("OIDC attestation rejected: {}", m.into()))
}

/// The one answer for any failure to obtain an issuer's keys: it does not say whether the
/// host resolved, was refused by policy, did not answer or answered nonsense.
fn unavailable(issuer: &str) -> Error {
    bad(format!(
        "the signing keys of issuer {issuer} could not be obtained (see the appliance log)"
    ))
}

pub use crate::outbound::is_public;

/// Checks an issuer URL as a workspace may configure it: `https://host[:port][/path]`
/// (or `http://` when private networks are allowed), no credentials, query or fragment, and
/// no literal non-public IP address unless private networks are allowed.
pub fn check_issuer_url(issuer: &str, allow_private: bool) -> std::result::Result<Url, String> {
    if issuer.len() > 300 {
        return Err("is longer than 300 characters".into());
    }
    crate::outbound::check_url(issuer, allow_private, false).map_err(|e| {
        if e.starts_with("points to") {
            format!("{e} (allowed only with assurance.oidc_allow_private_networks)")
        } else {
            e
        }
    })
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
        let key = format!("{}|{issuer}", self.allow_private);
        if let Some((at, v)) = CACHE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|m| m.get(&key).cloned())
        {
            match v {
                Ok(set) if at.elapsed() < CACHE_TTL => return Ok(set),
                Err(()) if at.elapsed() < FAILURE_TTL => return Err(unavailable(issuer)),
                _ => {}
            }
        }
        let fetched = self.fetch_keys(issuer);
        if let Err(detail) = &fetched {
            tracing::warn!(issuer, error = %detail, "OIDC issuer keys could not be fetched");
        }
        let stored = fetched.map_err(|_| ());
        CACHE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(key, (Instant::now(), stored.clone()));
        stored.map_err(|()| unavailable(issuer))
    }

    /// Discovery, then JWKS, under the SSRF rules of the module doc. The error is a detail
    /// for the log, never shown to the caller.
    fn fetch_keys(&self, issuer: &str) -> std::result::Result<Value, String> {
        let url = check_issuer_url(issuer, self.allow_private)?;
        let home = crate::outbound::origin(&url);
        let client = crate::outbound::pinned_client(
            &url,
            crate::outbound::Rules {
                allow_private: self.allow_private,
                max_redirects: MAX_REDIRECTS,
                max_body: MAX_BODY,
                timeout: Duration::from_secs(10),
            },
        )?;
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let config = crate::outbound::get_json(&client, &discovery_url, MAX_BODY)?;
        let uri = config
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document has no jwks_uri")?;
        let jwks_url = Url::parse(uri).map_err(|e| format!("jwks_uri {uri}: {e}"))?;
        if crate::outbound::origin(&jwks_url) != home {
            return Err(format!(
                "jwks_uri {uri} is not on the issuer's host ({})",
                home.1
            ));
        }
        crate::outbound::get_json(&client, jwks_url.as_str(), MAX_BODY)
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
    serde_json::from_slice(&b64u(payload).map_err(|_| bad("malformed token"))?)
        .map_err(|_| bad("malformed token"))
}

/// The reason a workspace's OIDC policy cannot attest anything yet, if any: no audience,
/// or no repository/project binding among the required claims.
pub fn policy_gap(policy: &Policy<'_>) -> Option<String> {
    if policy.audience.trim().is_empty() {
        return Some(
            "no OIDC audience is configured (set server.public_url or the workspace's oidc_audience)"
                .into(),
        );
    }
    if !policy
        .required_claims
        .iter()
        .any(|(k, v)| BINDING_CLAIMS.contains(&k.as_str()) && !v.is_null() && v != "")
    {
        return Some(format!(
            "this workspace does not bind OIDC attestation to a repository: add a required claim {} (e.g. repository=acme/web for GitHub, project_path=group/project for GitLab)",
            BINDING_CLAIMS.join(", ")
        ));
    }
    None
}

/// Verifies a CI identity token: a trusted issuer, the workspace's binding and audience, the
/// signature by one of the issuer's keys, lifetime (`exp` required), and every required
/// claim. Returns the verified claims (provenance).
pub fn verify(token: &str, policy: &Policy<'_>, source: &JwksSource) -> Result<Map<String, Value>> {
    let meta = Token::decode_metadata(token).map_err(|_| bad("malformed token"))?;
    let issuer = unverified_claims(token)?
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no iss claim"))?
        .to_string();
    let trusted_here =
        DEFAULT_ISSUERS.iter().any(|d| *d == issuer) || policy.trusted_issuers.contains(&issuer);
    if !trusted_here {
        return Err(bad(format!(
            "issuer {issuer} is not trusted by this workspace"
        )));
    }
    // Checked before any key is fetched: an unbound workspace never makes the appliance
    // reach out.
    if let Some(gap) = policy_gap(policy) {
        return Err(bad(gap));
    }
    let set = source.jwks(&issuer)?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("JWKS has no keys"))?;
    let kid = meta.key_id();
    let opts = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[issuer.as_str()])),
        allowed_audiences: Some(HashSet::from_strings(&[policy.audience])),
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
                if claims.expires_at.is_none() {
                    return Err(bad("the token has no exp claim"));
                }
                let mut all = claims.custom;
                all.insert("iss".into(), Value::String(issuer.clone()));
                if let Some(sub) = claims.subject {
                    all.insert("sub".into(), Value::String(sub));
                }
                if let Some(aud) = claims.audiences {
                    let list: Vec<Value> = aud.into_set().into_iter().map(Value::String).collect();
                    all.insert("aud".into(), Value::Array(list));
                }
                for (claim, want) in policy.required_claims {
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
            Err(e) => {
                let text = e.to_string();
                last = if text.to_ascii_lowercase().contains("audience") {
                    format!(
                        "the token's audience (aud) must be {} ({text})",
                        policy.audience
                    )
                } else {
                    text
                };
            }
        }
    }
    Err(bad(format!("signature or claims invalid: {last}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls() {
        assert!(check_issuer_url("https://gitlab.example.com", false).is_ok());
        assert!(check_issuer_url("https://gitlab.example.com/sub", false).is_ok());
        for bad in [
            "http://gitlab.example.com",
            "https://user:pw@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
            "https://gitlab.example.com/#f",
            "https://127.0.0.1",
            "https://[::1]:8443",
            "https://169.254.169.254/latest",
            "https://10.1.2.3",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_issuer_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_issuer_url("http://10.1.2.3:8080", true).is_ok());
        assert!(check_issuer_url("ftp://10.1.2.3", true).is_err());
    }

    #[test]
    fn unbound_policies_attest_nothing() {
        let claims: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"environment": "prod"})).expect("map");
        let issuers = vec!["https://ci.example".to_string()];
        let policy = Policy {
            trusted_issuers: &issuers,
            required_claims: &claims,
            audience: "https://rampart.example",
        };
        assert!(policy_gap(&policy).is_some_and(|g| g.contains("repository")));
        let bound: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"repository": "acme/web"})).expect("map");
        let ok = Policy {
            required_claims: &bound,
            ..policy
        };
        assert!(policy_gap(&ok).is_none());
        assert!(
            policy_gap(&Policy {
                audience: " ",
                ..ok
            })
            .is_some()
        );
    }
}
