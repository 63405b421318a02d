//! The offline, deterministic evaluation of evidence: which facets a control has (from the
//! words of its description), which facets each assertion type can prove, whether an
//! assertion is coherent with its control (no type-shopping: `file_hash` does not prove input
//! validation), whether a control's assertions are collectively sufficient, and the computed
//! verification status of a control. Pure functions; no I/O.

use std::collections::BTreeSet;

use super::types::{self, Evidence};
use crate::domain::VerificationStatus;

/// A facet of a control: one thing its implementation must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Facet {
    /// Authentication / authorization / access control.
    AccessControl,
    /// Input validation, sanitization, output encoding.
    InputValidation,
    /// Encryption, TLS, key handling.
    Cryptography,
    /// Secrets management (no hard-coded credentials, vaults).
    Secrets,
    /// Logging, auditing, monitoring.
    Logging,
    /// Rate limiting, quotas, throttling.
    RateLimiting,
    /// Integrity pinning, signatures, checksums.
    Integrity,
    /// Security headers, CORS, cookies flags.
    Headers,
    /// Dependency hygiene, versions, supply chain.
    Dependencies,
    /// Error handling and fail-closed behaviour.
    ErrorHandling,
    /// Configuration hardening (timeouts, flags, settings).
    Configuration,
}

impl Facet {
    /// Human name for explanations.
    pub fn label(self) -> &'static str {
        match self {
            Facet::AccessControl => "access control",
            Facet::InputValidation => "input validation",
            Facet::Cryptography => "cryptography",
            Facet::Secrets => "secrets management",
            Facet::Logging => "logging and audit",
            Facet::RateLimiting => "rate limiting",
            Facet::Integrity => "integrity",
            Facet::Headers => "security headers",
            Facet::Dependencies => "dependencies",
            Facet::ErrorHandling => "error handling",
            Facet::Configuration => "configuration",
        }
    }
}

const FACET_WORDS: &[(Facet, &[&str])] = &[
    (
        Facet::AccessControl,
        &[
            "authenticat",
            "authoriz",
            "authoris",
            "access control",
            "permission",
            "rbac",
            "role",
            "login",
            "session",
            "mfa",
            "least privilege",
            "tenant",
            "ownership",
        ],
    ),
    (
        Facet::InputValidation,
        &[
            "validat",
            "sanitiz",
            "sanitis",
            "input",
            "inject",
            "escap",
            "encod",
            "schema",
            "length",
            "upload type",
            "content type",
            "allowlist",
        ],
    ),
    (
        Facet::Cryptography,
        &[
            "encrypt",
            "tls",
            "https",
            "cipher",
            "kms",
            "at rest",
            "in transit",
            "mtls",
            "certificate",
        ],
    ),
    (
        Facet::Secrets,
        &[
            "secret",
            "credential",
            "api key",
            "password stor",
            "vault",
            "hard-coded",
            "hardcoded",
            "rotate",
        ],
    ),
    (
        Facet::Logging,
        &["log", "audit", "monitor", "alert", "trace", "siem"],
    ),
    (
        Facet::RateLimiting,
        &[
            "rate limit",
            "rate-limit",
            "throttl",
            "quota",
            "brute",
            "lockout",
            "backoff",
        ],
    ),
    (
        Facet::Integrity,
        &[
            "integrity",
            "checksum",
            "signature",
            "signed",
            "tamper",
            "hash",
            "pin",
        ],
    ),
    (
        Facet::Headers,
        &[
            "header",
            "hsts",
            "csp",
            "content security policy",
            "cors",
            "cookie",
            "samesite",
            "x-frame",
        ],
    ),
    (
        Facet::Dependencies,
        &[
            "dependenc",
            "library",
            "package",
            "supply chain",
            "sbom",
            "version",
            "patch",
        ],
    ),
    (
        Facet::ErrorHandling,
        &[
            "error",
            "exception",
            "fail closed",
            "fail-closed",
            "fail safe",
        ],
    ),
    (
        Facet::Configuration,
        &[
            "config", "timeout", "expir", "setting", "flag", "harden", "default",
        ],
    ),
];

/// Facets named by a control's text (lower-cased word stems). Empty when none is recognised.
pub fn facets_of(control_text: &str) -> BTreeSet<Facet> {
    let text = control_text.to_lowercase();
    FACET_WORDS
        .iter()
        .filter(|(_, words)| words.iter().any(|w| text.contains(w)))
        .map(|(f, _)| *f)
        .collect()
}

/// Facets an evidence kind can speak to.
fn proves(e: Evidence) -> &'static [Facet] {
    use Facet as F;
    match e {
        Evidence::Structure => &[
            F::AccessControl,
            F::InputValidation,
            F::Cryptography,
            F::Logging,
            F::RateLimiting,
            F::Integrity,
            F::Headers,
            F::ErrorHandling,
            F::Secrets,
            F::Configuration,
        ],
        Evidence::Behavior => &[
            F::AccessControl,
            F::InputValidation,
            F::Cryptography,
            F::Logging,
            F::RateLimiting,
            F::Integrity,
            F::Headers,
            F::ErrorHandling,
            F::Secrets,
            F::Configuration,
        ],
        Evidence::Configuration => &[
            F::Configuration,
            F::Headers,
            F::Cryptography,
            F::Secrets,
            F::RateLimiting,
            F::Logging,
            F::AccessControl,
        ],
        Evidence::Dependency => &[F::Dependencies, F::Cryptography],
        Evidence::Integrity => &[F::Integrity],
        Evidence::Presence => &[F::Configuration],
        Evidence::Pattern => &[
            F::InputValidation,
            F::Headers,
            F::Configuration,
            F::Secrets,
            F::Cryptography,
            F::AccessControl,
            F::Logging,
        ],
        Evidence::SecretAbsence => &[F::Secrets],
        Evidence::Validation => &[F::InputValidation],
        Evidence::ErrorHandling => &[F::ErrorHandling],
    }
}

/// Facets an assertion type can prove.
pub fn facets_proved_by(type_name: &str) -> BTreeSet<Facet> {
    types::lookup(type_name)
        .map(|t| {
            t.evidence
                .iter()
                .flat_map(|e| proves(*e).iter().copied())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an assertion type is a reasonable way to prove a control, with the reason.
pub fn coherence(type_name: &str, control_text: &str) -> (bool, String) {
    let control = facets_of(control_text);
    let proved = facets_proved_by(type_name);
    if control.is_empty() {
        return (true, "control has no recognisable facet; accepted".into());
    }
    let overlap: Vec<&str> = control.intersection(&proved).map(|f| f.label()).collect();
    if overlap.is_empty() {
        let needs: Vec<&str> = control.iter().map(|f| f.label()).collect();
        (
            false,
            format!(
                "{type_name} cannot prove {} (it only speaks to {}); choose an assertion type that shows the implementation",
                needs.join(", "),
                proved
                    .iter()
                    .map(|f| f.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        (
            true,
            format!("{type_name} can prove {}", overlap.join(", ")),
        )
    }
}

/// Sufficiency of a control's (coherent) assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sufficiency {
    /// `sufficient`, `insufficient` or `pending` (no assertions).
    pub status: &'static str,
    /// What is covered and what is missing.
    pub details: String,
}

/// Do the assertion types together cover every facet of the control? A control without
/// recognisable facets needs evidence of implementation (structure) and of behaviour (tests).
pub fn sufficiency(control_text: &str, coherent_types: &[&str]) -> Sufficiency {
    if coherent_types.is_empty() {
        return Sufficiency {
            status: "pending",
            details: "no coherent assertions yet".into(),
        };
    }
    let facets = facets_of(control_text);
    let covered: BTreeSet<Facet> = coherent_types
        .iter()
        .flat_map(|t| facets_proved_by(t))
        .collect();
    if facets.is_empty() {
        let has = |e: Evidence| {
            coherent_types
                .iter()
                .filter_map(|t| types::lookup(t))
                .any(|t| t.evidence.contains(&e))
        };
        return if has(Evidence::Structure) && has(Evidence::Behavior) {
            Sufficiency {
                status: "sufficient",
                details: "implementation and tests are both evidenced".into(),
            }
        } else {
            Sufficiency {
                status: "insufficient",
                details: "add both an implementation assertion (e.g. function_exists) and a behaviour assertion (test_exists or test_passes)".into(),
            }
        };
    }
    let missing: Vec<&str> = facets.difference(&covered).map(|f| f.label()).collect();
    if missing.is_empty() {
        Sufficiency {
            status: "sufficient",
            details: format!(
                "covers {}",
                facets
                    .iter()
                    .map(|f| f.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    } else {
        Sufficiency {
            status: "insufficient",
            details: format!("no assertion covers: {}", missing.join(", ")),
        }
    }
}

/// The tier results of one assertion, as stored.
#[derive(Debug, Clone, Copy)]
pub struct AssertionState<'a> {
    /// `pending`, `pass`, `fail`, `skipped`.
    pub tier1: &'a str,
    /// Same for tier 2.
    pub tier2: &'a str,
    /// Coherent with its control.
    pub coherent: bool,
}

/// Computed verification status of a control (spec/03): never set by clients.
/// - unverified: no assertions;
/// - verified: every assertion passed both tiers and is coherent, and sufficiency is sufficient;
/// - partially verified: something failed, is incoherent, or the set is insufficient;
/// - pending: otherwise (results still to come).
pub fn control_status(assertions: &[AssertionState<'_>], sufficiency: &str) -> VerificationStatus {
    if assertions.is_empty() {
        return VerificationStatus::Unverified;
    }
    let all_pass = assertions
        .iter()
        .all(|a| a.tier1 == "pass" && a.tier2 == "pass" && a.coherent);
    if all_pass && sufficiency == "sufficient" {
        return VerificationStatus::Verified;
    }
    let problem = assertions
        .iter()
        .any(|a| a.tier1 == "fail" || a.tier2 == "fail" || !a.coherent)
        || sufficiency == "insufficient";
    if problem {
        VerificationStatus::PartiallyVerified
    } else {
        VerificationStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_shopping_is_incoherent() {
        let (ok, why) = coherence(
            "file_hash",
            "Validate and sanitize all upload input; reject oversize files.",
        );
        assert!(!ok, "{why}");
        assert!(
            coherence(
                "file_hash",
                "Pin the nginx configuration and verify its integrity at deploy"
            )
            .0
        );
        assert!(coherence("function_exists", "Validate and sanitize all upload input").0);
        assert!(!coherence("no_plaintext_secret", "Rate limit login attempts").0);
    }

    #[test]
    fn sufficiency_names_missing_facets() {
        let s = sufficiency(
            "Enforce authentication on every endpoint and log failed logins",
            &["function_exists"],
        );
        assert_eq!(s.status, "sufficient");
        let s = sufficiency(
            "Encrypt uploads at rest and pin dependency versions",
            &["config_key_exists"],
        );
        assert_eq!(s.status, "insufficient");
        assert!(s.details.contains("dependencies"), "{}", s.details);
        assert_eq!(sufficiency("x", &[]).status, "pending");
        assert_eq!(
            sufficiency("Do the thing", &["function_exists"]).status,
            "insufficient"
        );
        assert_eq!(
            sufficiency("Do the thing", &["function_exists", "test_exists"]).status,
            "sufficient"
        );
    }

    #[test]
    fn computed_status() {
        let pass = AssertionState {
            tier1: "pass",
            tier2: "pass",
            coherent: true,
        };
        let pending = AssertionState {
            tier1: "pass",
            tier2: "skipped",
            coherent: true,
        };
        let fail = AssertionState {
            tier1: "fail",
            tier2: "pending",
            coherent: true,
        };
        assert_eq!(
            control_status(&[], "pending"),
            VerificationStatus::Unverified
        );
        assert_eq!(
            control_status(&[pass], "sufficient"),
            VerificationStatus::Verified
        );
        assert_eq!(
            control_status(&[pass], "insufficient"),
            VerificationStatus::PartiallyVerified
        );
        assert_eq!(
            control_status(&[pass, pending], "sufficient"),
            VerificationStatus::Pending
        );
        assert_eq!(
            control_status(&[pass, fail], "sufficient"),
            VerificationStatus::PartiallyVerified
        );
        let incoherent = AssertionState {
            coherent: false,
            ..pass
        };
        assert_eq!(
            control_status(&[incoherent], "sufficient"),
            VerificationStatus::PartiallyVerified
        );
    }
}
