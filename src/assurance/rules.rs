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

/// Do the coherent assertions, given as `(type, description)`, together cover every facet of
/// the control?
///
/// Each assertion proves only its stated aspect (spec/03): it covers the facets its
/// description names that its type can prove. A description naming no facet covers the
/// control's facet only when the control has a single one; otherwise it is reported as not
/// saying what it proves. A control without recognisable facets needs evidence of
/// implementation (structure) and of behaviour (tests).
pub fn sufficiency(control_text: &str, evidence: &[(&str, &str)]) -> Sufficiency {
    if evidence.is_empty() {
        return Sufficiency {
            status: "pending",
            details: "no coherent assertions yet".into(),
        };
    }
    let facets = facets_of(control_text);
    if facets.is_empty() {
        let has = |e: Evidence| {
            evidence
                .iter()
                .filter_map(|(t, _)| types::lookup(t))
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
    let mut covered = BTreeSet::new();
    let mut unscoped = 0usize;
    for (kind, description) in evidence {
        let stated = facets_of(description);
        let scope = if !stated.is_empty() {
            stated
        } else if facets.len() == 1 {
            facets.clone()
        } else {
            unscoped += 1;
            continue;
        };
        let proved = facets_proved_by(kind);
        covered.extend(scope.intersection(&proved).filter(|f| facets.contains(f)));
    }
    let labels = |set: &mut dyn Iterator<Item = &Facet>| {
        set.map(|f| f.label()).collect::<Vec<_>>().join(", ")
    };
    let note = if unscoped > 0 {
        format!(
            "; {unscoped} assertion(s) do not say which aspect of the control they prove: name it in the description"
        )
    } else {
        String::new()
    };
    let missing: Vec<&Facet> = facets.difference(&covered).collect();
    if missing.is_empty() {
        Sufficiency {
            status: "sufficient",
            details: format!("covers {}{note}", labels(&mut facets.iter())),
        }
    } else {
        Sufficiency {
            status: "insufficient",
            details: format!(
                "no assertion covers: {}{note}",
                labels(&mut missing.into_iter())
            ),
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
    control_status_counted(
        &StateCounts {
            assertions: assertions.len() as u64,
            passed: assertions
                .iter()
                .filter(|a| a.tier1 == "pass" && a.tier2 == "pass" && a.coherent)
                .count() as u64,
            problems: assertions
                .iter()
                .filter(|a| a.tier1 == "fail" || a.tier2 == "fail" || !a.coherent)
                .count() as u64,
        },
        sufficiency,
    )
}

/// What [`control_status`] needs of a control's assertions, as counts (SQL computes them
/// without loading the assertions: see [`super::verification_map`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StateCounts {
    /// Assertions of the control.
    pub assertions: u64,
    /// Those that passed both tiers and are coherent.
    pub passed: u64,
    /// Those that failed a tier or are incoherent.
    pub problems: u64,
}

/// [`control_status`] from counts.
pub fn control_status_counted(c: &StateCounts, sufficiency: &str) -> VerificationStatus {
    if c.assertions == 0 {
        return VerificationStatus::Unverified;
    }
    if c.passed == c.assertions && sufficiency == "sufficient" {
        return VerificationStatus::Verified;
    }
    if c.problems > 0 || sufficiency == "insufficient" {
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
        const AUTH_AND_LOG: &str = "Enforce authentication on every endpoint and log failed logins";
        let s = sufficiency(
            AUTH_AND_LOG,
            &[("function_exists", "the authentication middleware exists")],
        );
        assert_eq!(s.status, "insufficient", "logging is not covered");
        assert!(s.details.contains("logging"), "{}", s.details);
        let s = sufficiency(
            AUTH_AND_LOG,
            &[
                ("function_exists", "the authentication middleware exists"),
                (
                    "function_calls",
                    "failed logins are written to the audit log",
                ),
            ],
        );
        assert_eq!(s.status, "sufficient", "{}", s.details);
        let s = sufficiency(
            "Encrypt uploads at rest and pin dependency versions",
            &[(
                "config_key_exists",
                "uploads are encrypted at rest and the dependency version is pinned",
            )],
        );
        assert_eq!(s.status, "insufficient");
        assert!(s.details.contains("dependencies"), "{}", s.details);
        assert_eq!(sufficiency("x", &[]).status, "pending");
        assert_eq!(
            sufficiency("Do the thing", &[("function_exists", "it exists")]).status,
            "insufficient"
        );
        assert_eq!(
            sufficiency(
                "Do the thing",
                &[
                    ("function_exists", "it exists"),
                    ("test_exists", "it is tested")
                ]
            )
            .status,
            "sufficient"
        );
    }

    #[test]
    fn each_assertion_covers_only_its_stated_aspect() {
        const RATE_AND_MFA: &str = "Rate-limited sign-in with MFA. Throttle sign-in attempts and require a second factor (mfa)";
        let one = sufficiency(
            RATE_AND_MFA,
            &[("function_exists", "Sign-in is rate limited")],
        );
        assert_eq!(one.status, "insufficient");
        assert!(one.details.contains("access control"), "{}", one.details);
        let vague = sufficiency(RATE_AND_MFA, &[("function_exists", "the code is there")]);
        assert_eq!(vague.status, "insufficient");
        assert!(
            vague.details.contains("do not say which aspect"),
            "{}",
            vague.details
        );
        // A single-facet control accepts an assertion that does not restate the facet.
        assert_eq!(
            sufficiency(
                "Throttle sign-in attempts",
                &[("function_exists", "the function exists")]
            )
            .status,
            "sufficient"
        );
        // The stated aspect must be one the type can prove: a hash pins content, it does not
        // show rate limiting even if the description says so.
        assert_eq!(
            sufficiency(
                "Throttle sign-in attempts",
                &[("file_hash", "rate limiting is pinned")]
            )
            .status,
            "insufficient"
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
