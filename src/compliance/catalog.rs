//! The offline compliance catalogs: one TOML file per framework in `assets/compliance/`
//! (embedded in the binary) plus, when configured, every `*.toml` in
//! `compliance.extra_frameworks_dir` (a file with an existing framework id replaces it).
//!
//! A framework lists requirement ids with short titles written for rampart (never the
//! standard's own requirement text), optional profiles (ASVS levels, 800-53 baselines, CIS
//! implementation groups) and, per requirement, its crosswalk `refs`: the references the
//! threat-model catalog's controls carry (`NIST:AC-3`, `ASVS:V4.1.1` — ASVS 4.0 ids —,
//! `CWE-79`). One control reference therefore reaches every framework through documented
//! mappings instead of a guess per control. For NIST SP 800-53 the requirement id itself is
//! the reference. Loading checks everything a reviewer would: unique ids, well-formed
//! references, known profiles and groups, crosswalk targets that exist, and the documented
//! requirement count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{Framework, FrameworkRef};

/// The framework files compiled into the binary.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "owasp-asvs-5.toml",
        include_str!("../../assets/compliance/owasp-asvs-5.toml"),
    ),
    (
        "nist-800-53-r5.toml",
        include_str!("../../assets/compliance/nist-800-53-r5.toml"),
    ),
    (
        "nist-csf-2.toml",
        include_str!("../../assets/compliance/nist-csf-2.toml"),
    ),
    (
        "iso-27001-2022.toml",
        include_str!("../../assets/compliance/iso-27001-2022.toml"),
    ),
    (
        "soc2-tsc.toml",
        include_str!("../../assets/compliance/soc2-tsc.toml"),
    ),
    (
        "pci-dss-4.toml",
        include_str!("../../assets/compliance/pci-dss-4.toml"),
    ),
    (
        "cis-controls-8.1.toml",
        include_str!("../../assets/compliance/cis-controls-8.1.toml"),
    ),
    (
        "hipaa-security.toml",
        include_str!("../../assets/compliance/hipaa-security.toml"),
    ),
];

/// Id of the framework whose requirement ids are 800-53 control ids (the crosswalk hub).
pub const NIST_80053: &str = "nist-800-53-r5";

/// Why a catalog could not be loaded; names the file and the entry.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The extra directory could not be listed.
    #[error("compliance catalog directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("compliance catalog {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid TOML of the expected shape.
    #[error("compliance catalog {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A value breaks a catalog rule.
    #[error("compliance catalog {file}: {what}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Framework and entry (`iso-27001-2022 A.5.15`).
        what: String,
        /// The rule broken.
        message: String,
    },
}

/// One level/baseline of a framework (ASVS L2, 800-53 Moderate, CIS IG1). A requirement
/// belongs to every profile whose `rank` is at least the requirement's `level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Id used in selections (`L2`, `moderate`, `IG1`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Position in the nesting; requirements of `level <= rank` are in it.
    pub rank: u8,
}

/// A chapter/family/function of a framework; requirements belong to the group with the
/// longest id that prefixes theirs (followed by `.`, `-` or `(`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Id prefix (`V8`, `AC`, `PR.AA`, `A.5`).
    pub id: String,
    /// Display title.
    pub title: String,
}

/// One requirement (control, criterion, safeguard, subcategory, implementation spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Id as the framework numbers it (`V6.2.1`, `AC-2(1)`, `A.8.24`, `CC6.1`).
    pub id: String,
    /// Short title in rampart's own words.
    pub title: String,
    /// Lowest profile rank containing it; `None` = in no profile (only selectable without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// Crosswalk references controls are matched against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// Asset tags this requirement is about; when the model has none of them the
    /// requirement is not applicable (e.g. WebRTC, file uploads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies: Vec<String>,
    /// Set while loading: the group id.
    #[serde(default, skip_deserializing)]
    pub group: String,
}

/// A framework as loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkDef {
    /// Stable id used in APIs (`owasp-asvs-5`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Version of the standard.
    pub version: String,
    /// Who publishes it.
    pub publisher: String,
    /// What the catalog holds and how its crosswalk was derived.
    pub description: String,
    /// Documented number of requirements in this file (checked at load).
    pub requirement_count: usize,
    /// Levels/baselines.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Chapters/families.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// The requirements, in framework order.
    pub requirements: Vec<Requirement>,
    /// Where it came from (`embedded:…` or a path).
    #[serde(default, skip_deserializing)]
    pub source: String,
}

impl FrameworkDef {
    /// The requirement with this id (ids compare case-insensitively).
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id.trim()))
    }

    /// The profile with this id (case-insensitive).
    pub fn profile(&self, id: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id.trim()))
    }

    /// Title of a group id.
    pub fn group_title(&self, id: &str) -> &str {
        self.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.title.as_str())
            .unwrap_or("")
    }

    /// The references a requirement is matched by: its crosswalk refs, plus its own id for
    /// the 800-53 catalog.
    pub fn match_keys(&self, r: &Requirement) -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = r.refs.iter().map(|s| normalize_ref(s)).collect();
        if self.id == NIST_80053 {
            keys.insert(format!("NIST:{}", r.id.to_ascii_uppercase()));
        }
        keys
    }
}

/// Normalizes a reference to the compact catalog notation (`NIST:AC-2(1)`, `ASVS:V4.1.1`,
/// `CWE-79`); unparseable text is kept upper-cased so it simply never matches.
pub fn normalize_ref(s: &str) -> String {
    match s.parse::<FrameworkRef>() {
        Ok(r) => ref_key(&r),
        Err(_) => s.trim().to_ascii_uppercase(),
    }
}

/// The catalog notation of a parsed reference.
pub fn ref_key(r: &FrameworkRef) -> String {
    match r.framework {
        Framework::Nist80053 => format!("NIST:{}", r.id),
        Framework::OwaspAsvs => format!("ASVS:{}", r.id),
        Framework::Cwe => r.id.clone(),
    }
}

/// The match keys of a control's references: each reference, and for an 800-53
/// enhancement (`IA-2(1)`) also its base control (`IA-2`), since implementing an
/// enhancement implements part of the base control.
pub fn control_keys(refs: &[FrameworkRef]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for r in refs {
        keys.insert(ref_key(r));
        if r.framework == Framework::Nist80053
            && let Some(p) = r.id.find('(')
        {
            keys.insert(format!("NIST:{}", &r.id[..p]));
        }
    }
    keys
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    framework: FrameworkDef,
}

/// Every framework, by id, in a stable order (embedded order, then extra files).
#[derive(Debug, Clone, Default)]
pub struct ComplianceCatalog {
    frameworks: Vec<FrameworkDef>,
}

fn invalid(file: &str, what: impl Into<String>, message: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        file: file.to_string(),
        what: what.into(),
        message: message.into(),
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._()§".contains(c))
}

/// The group of a requirement id: the longest group id that prefixes it at a separator.
fn group_of<'g>(groups: &'g [Group], id: &str) -> Option<&'g Group> {
    groups
        .iter()
        .filter(|g| {
            id == g.id
                || id
                    .strip_prefix(g.id.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '-', '(']))
        })
        .max_by_key(|g| g.id.len())
}

impl ComplianceCatalog {
    /// The embedded frameworks plus every `*.toml` of `extra_dir` (sorted by name).
    pub fn load(extra_dir: Option<&Path>) -> Result<Self, CatalogError> {
        let mut cat = ComplianceCatalog::default();
        for (name, text) in EMBEDDED {
            cat.add_file(&format!("embedded:{name}"), text)?;
        }
        if let Some(dir) = extra_dir {
            let rd = std::fs::read_dir(dir).map_err(|source| CatalogError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut files = Vec::new();
            for e in rd {
                let p = e
                    .map_err(|source| CatalogError::Dir {
                        path: dir.to_path_buf(),
                        source,
                    })?
                    .path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            for p in files {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(&p).map_err(|source| CatalogError::Read {
                    file: name.clone(),
                    source,
                })?;
                cat.add_file(&name, &text)?;
            }
        }
        // A typo in a crosswalk would silently map nothing: refuse it, naming the file.
        if let Some((fw, req, r)) = dangling_nist_refs(&cat).into_iter().next() {
            let file = cat
                .framework(&fw)
                .map(|f| f.source.clone())
                .unwrap_or_default();
            return Err(CatalogError::Invalid {
                file,
                what: format!("{fw} {req}"),
                message: format!("reference {r} names no control of NIST SP 800-53 Rev. 5"),
            });
        }
        Ok(cat)
    }

    /// The embedded frameworks only (tests, tools).
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::load(None)
    }

    /// Parses, checks and adds one framework file; an existing framework id is replaced.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), CatalogError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
            file: file.into(),
            message: e.to_string(),
        })?;
        let mut fw = raw.framework;
        fw.source = file.to_string();
        check(file, &mut fw)?;
        match self.frameworks.iter().position(|f| f.id == fw.id) {
            Some(p) => self.frameworks[p] = fw,
            None => self.frameworks.push(fw),
        }
        Ok(())
    }

    /// All frameworks.
    pub fn frameworks(&self) -> &[FrameworkDef] {
        &self.frameworks
    }

    /// One framework by id (case-insensitive).
    pub fn framework(&self, id: &str) -> Option<&FrameworkDef> {
        self.frameworks
            .iter()
            .find(|f| f.id.eq_ignore_ascii_case(id.trim()))
    }

    /// Requirement counts per framework (what the README documents).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.frameworks
            .iter()
            .map(|f| (f.id.clone(), f.requirements.len()))
            .collect()
    }
}

/// Checks one framework and fills in the derived fields (group of each requirement).
fn check(file: &str, fw: &mut FrameworkDef) -> Result<(), CatalogError> {
    if !valid_id(&fw.id) || fw.id != fw.id.to_ascii_lowercase() {
        return Err(invalid(
            file,
            format!("framework {:?}", fw.id),
            "id must be lower-case letters, digits, '-', '.' (at most 64)",
        ));
    }
    for (field, v) in [
        ("name", &fw.name),
        ("version", &fw.version),
        ("publisher", &fw.publisher),
    ] {
        if v.trim().is_empty() {
            return Err(invalid(file, &fw.id, format!("{field} must not be empty")));
        }
    }
    let mut seen = BTreeSet::new();
    for p in &fw.profiles {
        if !valid_id(&p.id) || !seen.insert(p.id.to_ascii_lowercase()) {
            return Err(invalid(
                file,
                format!("{} profile {:?}", fw.id, p.id),
                "profile ids must be unique and simple",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for g in &fw.groups {
        if g.id.trim().is_empty() || !seen.insert(g.id.clone()) || g.title.trim().is_empty() {
            return Err(invalid(
                file,
                format!("{} group {:?}", fw.id, g.id),
                "groups need a unique id and a title",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for r in &mut fw.requirements {
        let what = format!("{} {}", fw.id, r.id);
        if !valid_id(&r.id) {
            return Err(invalid(file, what, "bad requirement id"));
        }
        if !seen.insert(r.id.to_ascii_uppercase()) {
            return Err(invalid(file, what, "duplicate requirement id"));
        }
        let t = r.title.trim();
        if t.is_empty() || t.chars().count() > 160 || t.contains('\n') {
            return Err(invalid(
                file,
                what,
                "title must be one line of 1-160 characters",
            ));
        }
        if let Some(l) = r.level
            && !fw.profiles.is_empty()
            && !fw.profiles.iter().any(|p| p.rank >= l)
        {
            return Err(invalid(file, what, format!("level {l} is in no profile")));
        }
        if r.level.is_some() && fw.profiles.is_empty() {
            return Err(invalid(
                file,
                what,
                "level given but the framework has no profiles",
            ));
        }
        for s in &r.refs {
            if s.parse::<FrameworkRef>().is_err() {
                return Err(invalid(
                    file,
                    what,
                    format!("bad reference {s:?} (NIST:AC-3, ASVS:V4.1.1 or CWE-79)"),
                ));
            }
        }
        if !fw.groups.is_empty() {
            match group_of(&fw.groups, &r.id) {
                Some(g) => r.group = g.id.clone(),
                None => return Err(invalid(file, what, "belongs to no group")),
            }
        }
    }
    if fw.requirements.len() != fw.requirement_count {
        return Err(invalid(
            file,
            &fw.id,
            format!(
                "requirement_count says {} but the file lists {}",
                fw.requirement_count,
                fw.requirements.len()
            ),
        ));
    }
    Ok(())
}

/// Checks that every `NIST:` crosswalk reference of every framework names a control or
/// enhancement of the 800-53 catalog (when it is loaded): a typo in a crosswalk would
/// otherwise silently map nothing. Returns the offending `(framework, requirement, ref)`.
pub fn dangling_nist_refs(cat: &ComplianceCatalog) -> Vec<(String, String, String)> {
    let Some(nist) = cat.framework(NIST_80053) else {
        return Vec::new();
    };
    let known: BTreeSet<String> = nist
        .requirements
        .iter()
        .map(|r| format!("NIST:{}", r.id.to_ascii_uppercase()))
        .collect();
    let mut out = Vec::new();
    for fw in cat.frameworks() {
        for r in &fw.requirements {
            for s in &r.refs {
                let k = normalize_ref(s);
                if k.starts_with("NIST:") && !known.contains(&k) {
                    out.push((fw.id.clone(), r.id.clone(), s.clone()));
                }
            }
        }
    }
    out
}
