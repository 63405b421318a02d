//! Small value types shared by every threat-model entity: security properties, levels,
//! risk tiers, statuses, framework references and entity kinds (with their id formats).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A security property an asset needs. `U` (usage/accountability) covers misuse of a
/// legitimate function and non-repudiation (who did what), beyond classic C/I/A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SecurityProperty {
    /// Confidentiality: only authorised parties read it.
    #[serde(rename = "C", alias = "confidentiality")]
    Confidentiality,
    /// Integrity: only authorised parties change it, changes are detectable.
    #[serde(rename = "I", alias = "integrity")]
    Integrity,
    /// Availability: it is there when needed.
    #[serde(rename = "A", alias = "availability")]
    Availability,
    /// Usage/accountability: it is used only as intended and actions are attributable.
    #[serde(rename = "U", alias = "usage")]
    Usage,
}

impl SecurityProperty {
    /// All properties in canonical order (C, I, A, U).
    pub const ALL: [SecurityProperty; 4] = [
        SecurityProperty::Confidentiality,
        SecurityProperty::Integrity,
        SecurityProperty::Availability,
        SecurityProperty::Usage,
    ];

    /// One-letter code used on the wire and in catalogs.
    pub fn letter(self) -> char {
        match self {
            SecurityProperty::Confidentiality => 'C',
            SecurityProperty::Integrity => 'I',
            SecurityProperty::Availability => 'A',
            SecurityProperty::Usage => 'U',
        }
    }

    /// Human-readable name for statements and UI text.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProperty::Confidentiality => "confidentiality",
            SecurityProperty::Integrity => "integrity",
            SecurityProperty::Availability => "availability",
            SecurityProperty::Usage => "accountable usage",
        }
    }
}

impl FromStr for SecurityProperty {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "c" | "confidentiality" => Ok(SecurityProperty::Confidentiality),
            "i" | "integrity" => Ok(SecurityProperty::Integrity),
            "a" | "availability" => Ok(SecurityProperty::Availability),
            "u" | "usage" | "accountability" => Ok(SecurityProperty::Usage),
            other => Err(format!(
                "unknown security property {other:?} (expected C, I, A or U)"
            )),
        }
    }
}

/// An ordered set of properties (ordered so output is deterministic).
pub type PropertySet = BTreeSet<SecurityProperty>;

/// "C, I, A" style rendering of a property set.
pub fn format_properties(props: &PropertySet) -> String {
    props
        .iter()
        .map(|p| p.letter().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "confidentiality and integrity" style rendering of a property set.
pub fn describe_properties(props: &PropertySet) -> String {
    let names: Vec<&str> = props.iter().map(|p| p.name()).collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].to_string(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// Three-step scale used for asset impact and attacker likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Most severe / most likely.
    High,
    /// In between.
    Medium,
    /// Least severe / least likely.
    Low,
}

impl Level {
    /// Numeric rank, 3 = high, for sorting "highest first".
    pub fn rank(self) -> u8 {
        match self {
            Level::High => 3,
            Level::Medium => 2,
            Level::Low => 1,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        })
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" | "h" => Ok(Level::High),
            "medium" | "m" | "med" => Ok(Level::Medium),
            "low" | "l" => Ok(Level::Low),
            other => Err(format!(
                "unknown level {other:?} (expected high, medium or low)"
            )),
        }
    }
}

/// Risk tier of a control objective, derived from asset impact × attacker likelihood.
///
/// The matrix (impact rows, likelihood columns):
///
/// | impact \ likelihood | High     | Medium | Low    |
/// |---------------------|----------|--------|--------|
/// | High                | Critical | High   | Medium |
/// | Medium              | High     | Medium | Low    |
/// | Low                 | Medium   | Low    | Low    |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskTier {
    /// High impact and high likelihood.
    Critical,
    /// One high, the other medium.
    High,
    /// Medium × medium, or high × low either way.
    Medium,
    /// Everything below.
    Low,
}

impl RiskTier {
    /// Tier from the documented impact × likelihood matrix.
    pub fn from_impact_likelihood(impact: Level, likelihood: Level) -> RiskTier {
        use Level::*;
        match (impact, likelihood) {
            (High, High) => RiskTier::Critical,
            (High, Medium) | (Medium, High) => RiskTier::High,
            (High, Low) | (Medium, Medium) | (Low, High) => RiskTier::Medium,
            (Medium, Low) | (Low, Medium) | (Low, Low) => RiskTier::Low,
        }
    }

    /// Numeric rank, 4 = critical, for sorting "highest first".
    pub fn rank(self) -> u8 {
        match self {
            RiskTier::Critical => 4,
            RiskTier::High => 3,
            RiskTier::Medium => 2,
            RiskTier::Low => 1,
        }
    }
}

impl fmt::Display for RiskTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RiskTier::Critical => "critical",
            RiskTier::High => "high",
            RiskTier::Medium => "medium",
            RiskTier::Low => "low",
        })
    }
}

/// Where an attacker stands relative to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackerPosition {
    /// Reaches the system over the internet or another untrusted network.
    External,
    /// On a neighbouring network or sharing infrastructure (same Wi-Fi, same cluster, co-tenant).
    Adjacent,
    /// Already inside the network or holding a legitimate account.
    Internal,
    /// A trusted person (employee, admin, operator) acting against the system.
    Insider,
    /// Arrives through a dependency, build pipeline or vendor.
    SupplyChain,
    /// Has physical access to devices or hardware.
    Physical,
}

impl fmt::Display for AttackerPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttackerPosition::External => "external",
            AttackerPosition::Adjacent => "adjacent",
            AttackerPosition::Internal => "internal",
            AttackerPosition::Insider => "insider",
            AttackerPosition::SupplyChain => "supply_chain",
            AttackerPosition::Physical => "physical",
        })
    }
}

impl FromStr for AttackerPosition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "external" => Ok(AttackerPosition::External),
            "adjacent" => Ok(AttackerPosition::Adjacent),
            "internal" => Ok(AttackerPosition::Internal),
            "insider" => Ok(AttackerPosition::Insider),
            "supply_chain" => Ok(AttackerPosition::SupplyChain),
            "physical" => Ok(AttackerPosition::Physical),
            other => Err(format!(
                "unknown attacker position {other:?} (expected external, adjacent, internal, insider, supply_chain or physical)"
            )),
        }
    }
}

/// Implementation status of a control, set by users.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    /// Nothing done yet (the default for generated controls).
    #[default]
    NotImplemented,
    /// Work started.
    InProgress,
    /// Done.
    Implemented,
    /// Does not apply to this system (see the assurance rules for how it counts).
    NotApplicable,
}

impl FromStr for ControlStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "not_implemented" => Ok(ControlStatus::NotImplemented),
            "in_progress" => Ok(ControlStatus::InProgress),
            "implemented" => Ok(ControlStatus::Implemented),
            "not_applicable" | "n/a" => Ok(ControlStatus::NotApplicable),
            other => Err(format!(
                "invalid control status {other:?} (expected not_implemented, in_progress, implemented or not_applicable)"
            )),
        }
    }
}

impl fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ControlStatus::NotImplemented => "not_implemented",
            ControlStatus::InProgress => "in_progress",
            ControlStatus::Implemented => "implemented",
            ControlStatus::NotApplicable => "not_applicable",
        })
    }
}

/// Review status of an assumption.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum AssumptionStatus {
    /// Stated by the generator or a user, not yet reviewed.
    #[default]
    Unconfirmed,
    /// Confirmed true by a reviewer.
    Confirmed,
    /// Found false: the model may need refinement.
    Rejected,
}

impl FromStr for AssumptionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "unconfirmed" => Ok(AssumptionStatus::Unconfirmed),
            "confirmed" => Ok(AssumptionStatus::Confirmed),
            "rejected" => Ok(AssumptionStatus::Rejected),
            other => Err(format!(
                "invalid assumption status {other:?} (expected unconfirmed, confirmed or rejected)"
            )),
        }
    }
}

/// Computed verification status of a control. Produced by the assurance layer (never set
/// by a client) and passed into the assurance math as a map control id → status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// All assertions pass both tiers, coherence and sufficiency hold.
    Verified,
    /// Verification attempted but incomplete.
    PartiallyVerified,
    /// Assertions exist, some await CI.
    Pending,
    /// No assertions (the default for a control absent from the map).
    #[default]
    Unverified,
}

/// A security framework a control can reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// NIST SP 800-53 rev. 5 control ids such as `AC-3`, `SC-8(1)`.
    Nist80053,
    /// OWASP ASVS 4.0 requirement ids such as `V2.1.1`.
    OwaspAsvs,
    /// MITRE CWE ids such as `CWE-79`.
    Cwe,
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framework::Nist80053 => "NIST SP 800-53",
            Framework::OwaspAsvs => "OWASP ASVS",
            Framework::Cwe => "CWE",
        })
    }
}

/// One reference from a control to a framework requirement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FrameworkRef {
    /// Which framework.
    pub framework: Framework,
    /// The requirement id inside it (`AC-3`, `V4.1.1`, `CWE-862`).
    pub id: String,
}

impl fmt::Display for FrameworkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework, self.id)
    }
}

impl FromStr for FrameworkRef {
    type Err = String;
    /// Parses the compact catalog notation: `NIST:AC-3`, `ASVS:V2.1.1`, `CWE-79` (or `CWE:79`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let valid_tail = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.()".contains(c))
        };
        if let Some(rest) = upper.strip_prefix("NIST:") {
            let ok = valid_tail(rest)
                && rest.len() >= 4
                && rest.as_bytes()[0].is_ascii_alphabetic()
                && rest.as_bytes()[1].is_ascii_alphabetic()
                && rest.as_bytes()[2] == b'-';
            if ok {
                return Ok(FrameworkRef {
                    framework: Framework::Nist80053,
                    id: rest.to_string(),
                });
            }
        } else if let Some(rest) = upper.strip_prefix("ASVS:") {
            if rest.starts_with('V') && valid_tail(rest) && rest.contains('.') {
                return Ok(FrameworkRef {
                    framework: Framework::OwaspAsvs,
                    id: rest.to_string(),
                });
            }
        } else if let Some(num) = upper
            .strip_prefix("CWE-")
            .or_else(|| upper.strip_prefix("CWE:"))
            && !num.is_empty()
            && num.chars().all(|c| c.is_ascii_digit())
        {
            return Ok(FrameworkRef {
                framework: Framework::Cwe,
                id: format!("CWE-{num}"),
            });
        }
        Err(format!(
            "bad framework reference {s:?} (expected NIST:AC-3, ASVS:V2.1.1 or CWE-79)"
        ))
    }
}

/// The kinds of entity inside a model that carry sequential ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// `A1..`
    Asset,
    /// `ATK1..`
    Attacker,
    /// `TB1..`
    TrustBoundary,
    /// `CO1..`
    ControlObjective,
    /// `AS1..`
    Assumption,
    /// `CTRL-01..`
    Control,
}

impl EntityKind {
    /// Formats the n-th id of this kind (n starts at 1).
    pub fn format_id(self, n: u32) -> String {
        match self {
            EntityKind::Asset => format!("A{n}"),
            EntityKind::Attacker => format!("ATK{n}"),
            EntityKind::TrustBoundary => format!("TB{n}"),
            EntityKind::ControlObjective => format!("CO{n}"),
            EntityKind::Assumption => format!("AS{n}"),
            EntityKind::Control => format!("CTRL-{n:02}"),
        }
    }

    /// Parses an id of this kind back to its number; `None` if it is not of this kind.
    pub fn parse_id(self, id: &str) -> Option<u32> {
        let prefix = match self {
            EntityKind::Asset => "A",
            EntityKind::Attacker => "ATK",
            EntityKind::TrustBoundary => "TB",
            EntityKind::ControlObjective => "CO",
            EntityKind::Assumption => "AS",
            EntityKind::Control => "CTRL-",
        };
        let upper = id.trim().to_ascii_uppercase();
        let digits = upper.strip_prefix(prefix)?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The kind an id belongs to, from its prefix.
    pub fn of_id(id: &str) -> Option<EntityKind> {
        // Longest prefixes first: "ATK" and "AS" before "A".
        [
            EntityKind::Control,
            EntityKind::Attacker,
            EntityKind::Assumption,
            EntityKind::TrustBoundary,
            EntityKind::ControlObjective,
            EntityKind::Asset,
        ]
        .into_iter()
        .find(|k| k.parse_id(id).is_some())
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityKind::Asset => "asset",
            EntityKind::Attacker => "attacker",
            EntityKind::TrustBoundary => "trust boundary",
            EntityKind::ControlObjective => "control objective",
            EntityKind::Assumption => "assumption",
            EntityKind::Control => "control",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_matrix_is_the_documented_one() {
        use Level::*;
        let t = RiskTier::from_impact_likelihood;
        assert_eq!(t(High, High), RiskTier::Critical);
        assert_eq!(t(High, Medium), RiskTier::High);
        assert_eq!(t(Medium, High), RiskTier::High);
        assert_eq!(t(High, Low), RiskTier::Medium);
        assert_eq!(t(Medium, Medium), RiskTier::Medium);
        assert_eq!(t(Low, High), RiskTier::Medium);
        assert_eq!(t(Medium, Low), RiskTier::Low);
        assert_eq!(t(Low, Medium), RiskTier::Low);
        assert_eq!(t(Low, Low), RiskTier::Low);
    }

    #[test]
    fn ids_format_and_parse() {
        assert_eq!(EntityKind::Control.format_id(3), "CTRL-03");
        assert_eq!(EntityKind::Control.format_id(123), "CTRL-123");
        assert_eq!(EntityKind::Attacker.format_id(2), "ATK2");
        assert_eq!(EntityKind::Asset.parse_id("a12"), Some(12));
        assert_eq!(EntityKind::Asset.parse_id("ATK1"), None);
        assert_eq!(EntityKind::of_id("ATK4"), Some(EntityKind::Attacker));
        assert_eq!(EntityKind::of_id("AS4"), Some(EntityKind::Assumption));
        assert_eq!(EntityKind::of_id("A4"), Some(EntityKind::Asset));
        assert_eq!(EntityKind::of_id("CTRL-07"), Some(EntityKind::Control));
        assert_eq!(EntityKind::of_id("X1"), None);
    }

    #[test]
    fn framework_refs_parse_and_reject() {
        let r: FrameworkRef = "NIST:ac-3".parse().expect("valid");
        assert_eq!(
            r,
            FrameworkRef {
                framework: Framework::Nist80053,
                id: "AC-3".into()
            }
        );
        let r: FrameworkRef = "ASVS:V2.1.1".parse().expect("valid");
        assert_eq!(r.framework, Framework::OwaspAsvs);
        let r: FrameworkRef = "cwe-79".parse().expect("valid");
        assert_eq!(r.id, "CWE-79");
        assert!("CWE-x".parse::<FrameworkRef>().is_err());
        assert!("ISO:27001".parse::<FrameworkRef>().is_err());
        assert!("NIST:3".parse::<FrameworkRef>().is_err());
    }

    #[test]
    fn serde_wire_names() {
        let props: PropertySet =
            [SecurityProperty::Confidentiality, SecurityProperty::Usage].into();
        assert_eq!(serde_json::to_string(&props).expect("json"), r#"["C","U"]"#);
        assert_eq!(
            serde_json::to_string(&ControlStatus::NotApplicable).expect("json"),
            r#""not_applicable""#
        );
        assert_eq!(
            serde_json::from_str::<VerificationStatus>(r#""partially_verified""#).expect("json"),
            VerificationStatus::PartiallyVerified
        );
        assert_eq!(
            serde_json::to_string(&AttackerPosition::SupplyChain).expect("json"),
            r#""supply_chain""#
        );
    }
}
