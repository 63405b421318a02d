//! Unit and property tests of the domain rules.

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn t(n: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + n, 0)
        .single()
        .expect("valid time")
}

fn props(s: &str) -> PropertySet {
    s.chars()
        .map(|c| c.to_string().parse::<SecurityProperty>().expect("prop"))
        .collect()
}

fn asset(name: &str, p: &str, impact: Level) -> NewAsset {
    NewAsset {
        name: name.into(),
        description: String::new(),
        properties: props(p),
        impact,
        rationale: "test".into(),
        tags: BTreeSet::new(),
    }
}

fn attacker(name: &str, p: &str, likelihood: Level) -> NewAttacker {
    NewAttacker {
        name: name.into(),
        description: String::new(),
        capability: String::new(),
        position: AttackerPosition::External,
        archetype: "test".into(),
        likelihood,
        threatens: props(p),
        targets: None,
        rationale: "test".into(),
        tags: BTreeSet::new(),
    }
}

fn base() -> ThreatModel {
    let mut m = ThreatModel::new(
        "00000000-0000-4000-8000-000000000001",
        "Upload API",
        "A REST API that stores uploads in S3",
        vec![
            asset("Files", "CIA", Level::High),
            asset("Logs", "IU", Level::Low),
        ],
        t(0),
    )
    .expect("model");
    m.add_attackers(
        vec![
            attacker("External", "CIA", Level::High),
            attacker("Insider", "CU", Level::Low),
        ],
        t(1),
    )
    .expect("attackers");
    m
}

fn ctl(key: &str, maps: &[(&str, &str)]) -> NewControl {
    NewControl {
        catalog_key: Some(key.into()),
        name: format!("Control {key}"),
        description: "do it".into(),
        framework_refs: vec!["NIST:AC-3".parse().expect("ref")],
        rationale: "test".into(),
        mappings: maps
            .iter()
            .map(|(co, g)| ControlMapping {
                co_id: co.to_string(),
                group: g.to_string(),
            })
            .collect(),
    }
}

#[test]
fn cos_are_cross_product_with_property_intersection_and_tiers() {
    let m = base();
    // Files×External (C,I,A), Files×Insider (C), Logs×External (I), Logs×Insider (U).
    let got: Vec<(String, String, String, RiskTier)> = m
        .control_objectives
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.asset_id.clone(),
                format_properties(&c.properties),
                c.risk_tier,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "CO1".into(),
                "A1".into(),
                "C, I, A".into(),
                RiskTier::Critical
            ),
            ("CO2".into(), "A1".into(), "C".into(), RiskTier::Medium),
            ("CO3".into(), "A2".into(), "I".into(), RiskTier::Medium),
            ("CO4".into(), "A2".into(), "U".into(), RiskTier::Low),
        ]
    );
    m.check_invariants().expect("invariants");
}

#[test]
fn targets_limit_objectives() {
    let mut m = base();
    let mut a = attacker("Thief", "CIA", Level::Medium);
    a.targets = Some(["a2".to_string()].into());
    let id = m.add_attacker(a, t(2)).expect("add");
    let cos: Vec<_> = m
        .control_objectives
        .iter()
        .filter(|c| c.attacker_id == id)
        .collect();
    assert_eq!(cos.len(), 1);
    assert_eq!(cos[0].asset_id, "A2");
    let mut bad = attacker("Ghost", "C", Level::Low);
    bad.targets = Some(["A9".to_string()].into());
    let err = m.add_attacker(bad, t(3)).expect_err("unknown target");
    assert!(err.to_string().contains("A9"), "{err}");
}

#[test]
fn removal_tombstones_and_ids_are_never_reused() {
    let mut m = base();
    m.set_controls(
        vec![
            ctl("k1", &[("CO1", "primary"), ("CO3", "primary")]),
            ctl("k2", &[("CO2", "primary")]),
        ],
        t(2),
    )
    .expect("controls");
    m.remove_asset("A1", "out of scope", t(3)).expect("remove");
    assert!(m.asset("A1").is_none());
    let tomb = m.tombstone("A1").expect("tombstone");
    assert_eq!(tomb.reason, "out of scope");
    assert_eq!(tomb.kind, EntityKind::Asset);
    assert_eq!(tomb.removed_at, t(3));
    // CO1 and CO2 went with it; CTRL-02 only mapped to CO2 → tombstoned; CTRL-01 still maps CO3.
    assert!(m.objective("CO1").is_none() && m.objective("CO2").is_none());
    assert!(m.tombstone("CO1").is_some());
    assert!(m.control("CTRL-01").is_some());
    assert!(m.control("CTRL-02").is_none());
    assert!(
        m.tombstone("CTRL-02")
            .expect("ctrl tomb")
            .reason
            .contains("no longer mapped")
    );
    // New asset gets A3, not A1; its COs get CO5.., not CO1.
    let id = m
        .add_asset(asset("New", "C", Level::Medium), t(4))
        .expect("add");
    assert_eq!(id, "A3");
    assert!(
        m.control_objectives
            .iter()
            .all(|c| c.id != "CO1" && c.id != "CO2")
    );
    assert!(m.objective("CO5").is_some());
    m.check_invariants().expect("invariants");
    // Serde round trip keeps tombstones and counters.
    let json = serde_json::to_string(&m).expect("json");
    let back: ThreatModel = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, m);
}

#[test]
fn removing_last_asset_is_refused_and_changes_nothing() {
    let mut m = base();
    m.remove_asset("A2", "", t(2)).expect("remove");
    let before = m.clone();
    let err = m.remove_asset("A1", "", t(3)).expect_err("last");
    assert_eq!(err, DomainError::LastAsset { id: "A1".into() });
    assert_eq!(m, before);
    let err = m.remove_asset("A7", "", t(3)).expect_err("unknown");
    assert_eq!(
        err,
        DomainError::UnknownId {
            kind: EntityKind::Asset,
            id: "A7".into()
        }
    );
}

#[test]
fn validation_names_the_field() {
    let mut m = base();
    let err = m
        .add_asset(asset("  ", "C", Level::Low), t(2))
        .expect_err("empty name");
    assert!(
        matches!(&err, DomainError::Invalid { field, .. } if field == "asset.name"),
        "{err}"
    );
    let err = m
        .add_asset(
            asset(&"x".repeat(MAX_NAME_CHARS + 1), "C", Level::Low),
            t(2),
        )
        .expect_err("long");
    assert!(err.to_string().contains("at most 200"), "{err}");
    let err = m
        .add_asset(asset("ok", "", Level::Low), t(2))
        .expect_err("no props");
    assert!(err.to_string().contains("properties"), "{err}");
    assert!(ThreatModel::new("x", "t", "", vec![asset("a", "C", Level::Low)], t(0)).is_err());
    assert!(ThreatModel::new("x", "t", "d", vec![], t(0)).is_err());
    let huge = "a".repeat(MAX_FEATURE_DESCRIPTION_CHARS + 1);
    assert!(ThreatModel::new("x", "t", huge, vec![asset("a", "C", Level::Low)], t(0)).is_err());
}

#[test]
fn edit_recomputes_objectives() {
    let mut m = base();
    // Logs lose U → Logs×Insider (U) vanishes; impact up → Logs×External tier rises.
    m.edit_asset(
        "A2",
        AssetPatch {
            properties: Some(props("I")),
            impact: Some(Level::High),
            ..Default::default()
        },
        t(2),
    )
    .expect("edit");
    assert!(m.objective("CO4").is_none());
    assert_eq!(
        m.objective("CO3").expect("co3").risk_tier,
        RiskTier::Critical
    );
    m.edit_attacker(
        "ATK2",
        AttackerPatch {
            likelihood: Some(Level::High),
            name: Some("Rogue admin".into()),
            ..Default::default()
        },
        t(3),
    )
    .expect("edit");
    let co2 = m.objective("CO2").expect("co2");
    assert_eq!(co2.risk_tier, RiskTier::Critical);
    assert!(co2.statement.contains("Rogue admin"));
    assert_eq!(m.version, 4);
}

#[test]
fn regenerating_controls_keeps_status_by_catalog_key() {
    let mut m = base();
    m.set_controls(
        vec![
            ctl("k1", &[("CO1", "primary")]),
            ctl("k2", &[("CO2", "primary")]),
        ],
        t(2),
    )
    .expect("set");
    m.update_control_status(
        "ctrl-01",
        ControlStatus::Implemented,
        Some("done in v2"),
        t(3),
    )
    .expect("status");
    let ev = m
        .add_evidence(
            "CTRL-01",
            NewEvidence {
                title: "PR #12".into(),
                reference: "https://x/pr/12".into(),
            },
            t(4),
        )
        .expect("ev");
    assert_eq!(ev, "EV1");
    let ch = m
        .set_controls(
            vec![
                ctl("k1", &[("CO1", "primary"), ("CO3", "primary")]),
                ctl("k3", &[("CO4", "primary")]),
            ],
            t(5),
        )
        .expect("regen");
    assert_eq!(ch.kept, vec!["CTRL-01"]);
    assert_eq!(ch.added, vec!["CTRL-03"]);
    assert_eq!(ch.removed, vec!["CTRL-02"]);
    let c1 = m.control("CTRL-01").expect("c1");
    assert_eq!(c1.status, ControlStatus::Implemented);
    assert_eq!(c1.implementation_notes, "done in v2");
    assert_eq!(c1.evidence.len(), 1);
    m.remove_evidence("CTRL-01", "EV1", t(6)).expect("rm ev");
    let ev2 = m
        .add_evidence(
            "CTRL-01",
            NewEvidence {
                title: "again".into(),
                reference: String::new(),
            },
            t(7),
        )
        .expect("ev");
    assert_eq!(ev2, "EV2", "evidence ids are not reused");
    assert!(matches!(
        m.remove_evidence("CTRL-01", "EV1", t(8)),
        Err(DomainError::UnknownEvidence { .. })
    ));
    let err = m
        .set_controls(vec![ctl("k9", &[("CO99", "primary")])], t(9))
        .expect_err("bad co");
    assert!(err.to_string().contains("CO99"), "{err}");
    m.check_invariants().expect("invariants");
}

#[test]
fn importing_controls_keeps_every_existing_control_and_its_groups() {
    let mut m = base();
    m.set_controls(
        vec![
            ctl("k1", &[("CO1", "primary"), ("CO2", "alt")]),
            ctl("k2", &[("CO2", "primary")]),
        ],
        t(2),
    )
    .expect("set");
    m.update_control_status("CTRL-01", ControlStatus::Implemented, Some("v1"), t(3))
        .expect("status");
    let ch = m
        .add_controls(vec![ctl("k9", &[("CO1", "imported")])], t(4))
        .expect("import");
    assert_eq!(ch.added, vec!["CTRL-03"]);
    assert_eq!(ch.kept, vec!["CTRL-01", "CTRL-02"]);
    assert!(ch.removed.is_empty());
    assert_eq!(
        m.control("CTRL-01").expect("c1").status,
        ControlStatus::Implemented
    );
    let groups = |co: &str| -> Vec<(String, Vec<String>)> {
        m.objective(co)
            .expect("co")
            .mitigation_groups
            .iter()
            .map(|g| (g.label.clone(), g.controls.clone()))
            .collect()
    };
    let co1 = groups("CO1");
    assert!(
        co1.contains(&("imported".into(), vec!["CTRL-03".into()])),
        "{co1:?}"
    );
    assert!(
        co1.contains(&("primary".into(), vec!["CTRL-01".into()])),
        "{co1:?}"
    );
    assert!(groups("CO2").contains(&("alt".into(), vec!["CTRL-01".into()])));
    let err = m
        .add_controls(vec![ctl("k8", &[("CO99", "x")])], t(5))
        .expect_err("unknown CO");
    assert!(err.to_string().contains("CO99"), "{err}");
    assert_eq!(m.controls.len(), 3, "a refused import changes nothing");
    m.check_invariants().expect("invariants");
}

#[test]
fn assurance_math_and_groups() {
    let mut m = base();
    // CO1: (k1 AND k2) OR (k3). CO2: k4 alone. CO3: k5 (N/A only). CO4: none.
    m.set_controls(
        vec![
            ctl("k1", &[("CO1", "primary")]),
            ctl("k2", &[("CO1", "primary")]),
            ctl("k3", &[("CO1", "alternative")]),
            ctl("k4", &[("CO2", "primary")]),
            ctl("k5", &[("CO3", "primary")]),
        ],
        t(2),
    )
    .expect("set");
    let none = VerificationMap::new();
    let s = m.summary(&none);
    assert_eq!(
        (
            s.counts.objectives,
            s.counts.implemented,
            s.counts.at_risk,
            s.counts.not_started
        ),
        (4, 0, 3, 1)
    );
    assert_eq!(s.counts.maturity.defined_pct, 75.0);

    // k1 implemented only → group incomplete.
    m.update_control_status("CTRL-01", ControlStatus::Implemented, None, t(3))
        .expect("s");
    assert_eq!(m.assess(&none)[0].state, CoState::AtRisk);
    // k2 not applicable → primary group complete (N/A counts as satisfied next to an implemented one).
    m.update_control_status("CTRL-02", ControlStatus::NotApplicable, None, t(4))
        .expect("s");
    let a = m.assess(&none);
    assert_eq!(a[0].state, CoState::Implemented);
    assert_eq!(a[0].implemented_groups, vec![0]);
    // A group of only N/A controls does not implement CO3.
    m.update_control_status("CTRL-05", ControlStatus::NotApplicable, None, t(5))
        .expect("s");
    assert_eq!(m.assess(&none)[2].state, CoState::AtRisk);
    // in_progress does not count as implemented.
    m.update_control_status("CTRL-04", ControlStatus::InProgress, None, t(6))
        .expect("s");
    assert_eq!(m.assess(&none)[1].state, CoState::AtRisk);

    // Verification: the alternative group verified alone verifies CO1 even though none of its controls is marked implemented.
    let mut v = VerificationMap::new();
    v.insert("CTRL-03".into(), VerificationStatus::Verified);
    v.insert("CTRL-04".into(), VerificationStatus::PartiallyVerified);
    let a = m.assess(&v);
    assert!(a[0].verified);
    assert_eq!(a[0].verified_groups, vec![1]);
    assert!(!a[1].verified, "partially verified is not verified");
    let s = m.summary(&v);
    assert_eq!(s.counts.implemented, 1);
    assert_eq!(s.counts.at_risk, 2);
    assert_eq!(s.counts.not_started, 1);
    assert_eq!(s.counts.verified, 1);
    assert_eq!(s.counts.implemented_pct, 25.0);
    assert_eq!(s.counts.verified_pct, 25.0);
    assert_eq!(s.counts.controls.implemented, 1);
    assert_eq!(s.counts.controls.not_applicable, 2);
    assert_eq!(s.counts.controls.verified, 1);
    assert_eq!(
        s.counts.risk_tiers,
        TierCounts {
            critical: 1,
            high: 0,
            medium: 2,
            low: 1
        }
    );
    assert_eq!(
        m.objectives_where(AssuranceFilter::AtRisk, &v)
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        vec!["CO2", "CO3"]
    );
    assert_eq!(
        m.objectives_where(AssuranceFilter::NotStarted, &v)
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        vec!["CO4"]
    );

    // Portfolio: two copies → counts double, percentages stay.
    let p = portfolio([&s, &s]);
    assert_eq!(p.models, 2);
    assert_eq!(p.counts.objectives, 8);
    assert_eq!(p.counts.at_risk, 4);
    assert_eq!(p.counts.implemented_pct, 25.0);
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["at_risk"], 4);
    assert_eq!(portfolio([]).counts.implemented_pct, 0.0);
}

#[test]
fn edit_and_remove_control() {
    let mut m = base();
    m.set_controls(
        vec![
            ctl("k1", &[("CO1", "primary"), ("CO2", "primary")]),
            ctl("k2", &[("CO1", "primary")]),
        ],
        t(2),
    )
    .expect("set");
    m.edit_control(
        "CTRL-01",
        ControlPatch {
            name: Some("Renamed".into()),
            ..Default::default()
        },
        t(3),
    )
    .expect("edit");
    assert_eq!(m.control("CTRL-01").expect("c").name, "Renamed");
    assert!(
        m.edit_control(
            "CTRL-01",
            ControlPatch {
                description: Some(" ".into()),
                ..Default::default()
            },
            t(3)
        )
        .is_err()
    );
    m.remove_control("CTRL-01", "duplicate of CTRL-02", t(4))
        .expect("remove");
    assert_eq!(
        m.objective("CO1").expect("co1").mitigation_groups[0].controls,
        vec!["CTRL-02"]
    );
    assert!(
        m.objective("CO2")
            .expect("co2")
            .mitigation_groups
            .is_empty(),
        "empty group dropped"
    );
    assert_eq!(
        m.tombstone("CTRL-01").expect("t").reason,
        "duplicate of CTRL-02"
    );
    assert!(matches!(
        m.remove_control("CTRL-01", "", t(5)),
        Err(DomainError::UnknownId { .. })
    ));
    m.check_invariants().expect("invariants");
}

#[test]
fn apply_ops_is_atomic() {
    let mut m = base();
    let before = m.clone();
    let ops = vec![
        ModelOp::AddAsset {
            asset: asset("Keys", "C", Level::High),
        },
        ModelOp::RemoveAttacker {
            id: "ATK9".into(),
            reason: String::new(),
        },
    ];
    let err = m.apply_ops(&ops, t(5)).expect_err("bad op");
    assert!(
        err.to_string().contains("ops[1]") && err.to_string().contains("ATK9"),
        "{err}"
    );
    assert_eq!(m, before);
    let notes = m.apply_ops(&ops[..1], t(5)).expect("ok");
    assert_eq!(notes, vec!["added asset A3"]);
}

#[test]
fn trust_boundaries_and_assumptions() {
    let mut m = base();
    let ids = m
        .set_trust_boundaries(
            vec![NewTrustBoundary {
                name: "Internet edge".into(),
                zones: vec!["Internet".into(), "API".into()],
                assets: ["A1".to_string()].into(),
                crossing: vec!["HTTPS requests".into()],
                rationale: "r".into(),
            }],
            "regenerated",
            t(2),
        )
        .expect("tb");
    assert_eq!(ids, vec!["TB1"]);
    let tb = |name: &str| NewTrustBoundary {
        name: name.into(),
        zones: vec!["a".into(), "b".into()],
        assets: Default::default(),
        crossing: vec![],
        rationale: String::new(),
    };
    let again = m
        .set_trust_boundaries(vec![tb("internet edge"), tb("Tenant")], "regenerated", t(2))
        .expect("tb");
    assert_eq!(again, vec!["TB1", "TB2"], "same name keeps its id");
    let ids2 = m
        .set_trust_boundaries(vec![], "regenerated", t(3))
        .expect("tb");
    assert!(ids2.is_empty());
    assert!(m.tombstone("TB1").is_some() && m.tombstone("TB2").is_some());
    let err = m
        .set_trust_boundaries(
            vec![NewTrustBoundary {
                name: "x".into(),
                zones: vec![],
                assets: ["A5".to_string()].into(),
                crossing: vec![],
                rationale: String::new(),
            }],
            "r",
            t(4),
        )
        .expect_err("bad asset");
    assert!(err.to_string().contains("A5"));
    let a = m
        .add_assumption(
            NewAssumption {
                text: "TLS terminates at the LB".into(),
                rationale: String::new(),
            },
            t(5),
        )
        .expect("as");
    m.set_assumption_status(&a, AssumptionStatus::Confirmed, t(6))
        .expect("status");
    assert_eq!(
        m.assumption("AS1").expect("as1").status,
        AssumptionStatus::Confirmed
    );
}

#[derive(Debug, Clone)]
enum Op {
    AddAsset(u8, u8),
    RemoveAsset(usize),
    EditAsset(usize, u8),
    AddAttacker(u8, u8, Option<usize>),
    RemoveAttacker(usize),
    Regenerate(u8),
    Status(usize, u8),
}

fn bits(b: u8) -> PropertySet {
    let mut s: PropertySet = SecurityProperty::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| b & (1 << i) != 0)
        .map(|(_, p)| *p)
        .collect();
    if s.is_empty() {
        s.insert(SecurityProperty::Confidentiality);
    }
    s
}

fn level(n: u8) -> Level {
    [Level::High, Level::Medium, Level::Low][usize::from(n % 3)]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(p, l)| Op::AddAsset(p, l)),
        any::<usize>().prop_map(Op::RemoveAsset),
        (any::<usize>(), any::<u8>()).prop_map(|(i, p)| Op::EditAsset(i, p)),
        (
            any::<u8>(),
            any::<u8>(),
            proptest::option::of(any::<usize>())
        )
            .prop_map(|(p, l, t)| Op::AddAttacker(p, l, t)),
        any::<usize>().prop_map(Op::RemoveAttacker),
        any::<u8>().prop_map(Op::Regenerate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, s)| Op::Status(i, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn invariants_hold_after_any_sequence(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let mut m = base();
        let mut ever: BTreeSet<String> = m.all_ids().into_iter().collect();
        for (step, op) in ops.into_iter().enumerate() {
            let now = t(10 + step as i64);
            let before = m.clone();
            let noop = match &op {
                Op::RemoveAttacker(_) => m.attackers.is_empty(),
                Op::Status(..) => m.controls.is_empty(),
                _ => false,
            };
            let res = match op {
                Op::AddAsset(p, l) => m.add_asset(asset(&format!("asset {step}"), "", level(l)).with_props(bits(p)), now).map(|_| ()),
                Op::RemoveAsset(i) => { let id = m.assets[i % m.assets.len()].id.clone(); m.remove_asset(&id, "prop", now) }
                Op::EditAsset(i, p) => { let id = m.assets[i % m.assets.len()].id.clone(); m.edit_asset(&id, AssetPatch { properties: Some(bits(p)), impact: Some(level(p)), ..Default::default() }, now) }
                Op::AddAttacker(p, l, tgt) => {
                    let mut a = attacker(&format!("attacker {step}"), "C", level(l));
                    a.threatens = bits(p);
                    a.targets = tgt.map(|i| [m.assets[i % m.assets.len()].id.clone()].into());
                    m.add_attacker(a, now).map(|_| ())
                }
                Op::RemoveAttacker(i) => if m.attackers.is_empty() { Ok(()) } else { let id = m.attackers[i % m.attackers.len()].id.clone(); m.remove_attacker(&id, "prop", now) },
                Op::Regenerate(seed) => {
                    let seed = seed % 10;
                    // Map control k_j to every CO whose number ≡ j (mod 3), groups by seed.
                    let cos: Vec<String> = m.control_objectives.iter().map(|c| c.id.clone()).collect();
                    let ctls: Vec<NewControl> = (0..3u8).filter_map(|j| {
                        let maps: Vec<(String, String)> = cos.iter().enumerate().filter(|(i, _)| (*i + usize::from(seed)) % 3 == usize::from(j)).map(|(_, c)| (c.clone(), format!("g{}", (j + seed) % 2))).collect();
                        if maps.is_empty() { return None; }
                        let refs: Vec<(&str, &str)> = maps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                        Some(ctl(&format!("k{}", (j + seed) % 5), &refs))
                    }).collect();
                    m.set_controls(ctls, now).map(|_| ())
                }
                Op::Status(i, s) => if m.controls.is_empty() { Ok(()) } else {
                    let id = m.controls[i % m.controls.len()].id.clone();
                    let st = [ControlStatus::NotImplemented, ControlStatus::InProgress, ControlStatus::Implemented, ControlStatus::NotApplicable][usize::from(s % 4)];
                    m.update_control_status(&id, st, None, now)
                },
            };
            match res {
                Ok(()) => prop_assert!(noop || m.version > before.version),
                Err(DomainError::LastAsset { .. }) => prop_assert_eq!(&m, &before),
                Err(e) => prop_assert!(false, "unexpected error {}", e),
            }
            prop_assert!(m.check_invariants().is_ok(), "{:?}", m.check_invariants());
            // Every live id is either old-and-still-live or brand new: nothing comes back.
            let live: BTreeSet<String> = m.all_ids().into_iter().filter(|id| m.tombstone(id).is_none()).collect();
            let was_live: BTreeSet<String> = before.all_ids().into_iter().filter(|id| before.tombstone(id).is_none()).collect();
            for id in &live {
                prop_assert!(was_live.contains(id) || !ever.contains(id), "id {} was reused", id);
            }
            ever.extend(m.all_ids());
            // COs: exactly the pairs with a non-empty intersection.
            for co in &m.control_objectives {
                let a = m.asset(&co.asset_id).expect("checked");
                let k = m.attacker(&co.attacker_id).expect("checked");
                let inter: PropertySet = a.properties.intersection(&k.threatens).copied().collect();
                prop_assert_eq!(&co.properties, &inter);
                prop_assert_eq!(co.risk_tier, RiskTier::from_impact_likelihood(a.impact, k.likelihood));
            }
            let s = m.summary(&VerificationMap::new());
            prop_assert_eq!(s.counts.implemented + s.counts.at_risk + s.counts.not_started, s.counts.objectives);
        }
    }
}

trait WithProps {
    fn with_props(self, p: PropertySet) -> Self;
}

impl WithProps for NewAsset {
    fn with_props(mut self, p: PropertySet) -> Self {
        self.properties = p;
        self
    }
}

#[test]
fn gaps_are_objectives_without_controls_or_without_implemented_ones() {
    let mut m = base();
    let g = control_gaps(&m);
    assert_eq!(g.control_objectives, 4);
    assert_eq!(g.without_controls.len(), 4);
    assert!(g.without_implemented_controls.is_empty());

    m.add_controls(vec![ctl("a", &[("CO1", "g"), ("CO2", "g")])], t(2))
        .expect("controls");
    let g = control_gaps(&m);
    let uncovered: Vec<&str> = g
        .without_controls
        .iter()
        .map(|c| c.co_id.as_str())
        .collect();
    assert_eq!(uncovered, ["CO3", "CO4"]);
    let idle: Vec<&str> = g
        .without_implemented_controls
        .iter()
        .map(|c| c.co_id.as_str())
        .collect();
    assert_eq!(idle, ["CO1", "CO2"]);
    assert_eq!(g.without_implemented_controls[0].controls, ["CTRL-01"]);

    m.update_control_status("CTRL-01", ControlStatus::InProgress, None, t(3))
        .expect("status");
    assert!(control_gaps(&m).without_implemented_controls.is_empty());
    m.update_control_status("CTRL-01", ControlStatus::NotApplicable, None, t(4))
        .expect("status");
    assert_eq!(control_gaps(&m).without_implemented_controls.len(), 2);
}

#[test]
fn imported_controls_need_objectives_and_default_their_group_and_rationale() {
    let item = |co_ids: &[&str]| ImportedControl {
        name: "WAF".into(),
        description: "Filter requests".into(),
        rationale: None,
        co_ids: co_ids.iter().map(|s| s.to_string()).collect(),
        group: None,
    };
    let err = imported_controls("controls", vec![], "r").expect_err("empty");
    assert_eq!(
        err,
        DomainError::invalid("controls", "import at least one control")
    );
    let err =
        imported_controls("controls", vec![item(&["CO1"]), item(&[])], "r").expect_err("no co");
    assert!(matches!(err, DomainError::Invalid { ref field, .. } if field == "controls[1].co_ids"));
    let got = imported_controls(
        "controls",
        vec![item(&["CO1", "CO2"])],
        "imported via the API",
    )
    .expect("ok");
    assert_eq!(got[0].rationale, "imported via the API");
    assert_eq!(got[0].catalog_key, None);
    let groups: Vec<(&str, &str)> = got[0]
        .mappings
        .iter()
        .map(|m| (m.co_id.as_str(), m.group.as_str()))
        .collect();
    assert_eq!(groups, [("CO1", "imported"), ("CO2", "imported")]);
}
