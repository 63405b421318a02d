//! Benchmark (not a test): offline generation time per model (goal < 200 ms) and control
//! regeneration on a 50-asset × 20-attacker model. Run with `cargo bench --bench engine`.

use std::time::Instant;

use chrono::Utc;
use rampart::domain::VerificationMap;
use rampart::engine::{BuiltinEngine, generate_model, regenerate_controls};

const DESCRIPTIONS: &[&str] = &[
    "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs.",
    "An internal Kafka pipeline that moves payment events into Postgres; card data is tokenized and never stored.",
    "A fleet of IoT sensors sending telemetry over MQTT to a cloud broker, with OTA firmware updates.",
    "A customer-support chatbot using an LLM with RAG over a vector database of help articles and ticket history.",
    "A multi-tenant SaaS on Kubernetes with OAuth login, an admin panel, webhooks to customer endpoints and audit logs.",
];

fn main() {
    let engine = BuiltinEngine::new(None).expect("catalog");
    let mut times = Vec::new();
    for round in 0..5 {
        for (i, d) in DESCRIPTIONS.iter().enumerate() {
            let start = Instant::now();
            let g = generate_model(
                &engine,
                &format!("m{round}-{i}"),
                d,
                Utc::now(),
                &mut |_| {},
            )
            .expect("generate");
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if round == 0 {
                println!(
                    "{:>7.1} ms  {:>3} assets {:>2} attackers {:>4} COs {:>3} controls  {}",
                    ms,
                    g.model.assets.len(),
                    g.model.attackers.len(),
                    g.model.control_objectives.len(),
                    g.model.controls.len(),
                    &d[..50]
                );
            }
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "generation: median {:.1} ms, p90 {:.1} ms, max {:.1} ms over {} runs (goal < 200 ms)",
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() - 1],
        times.len()
    );

    let mut m = generate_model(&engine, "big", DESCRIPTIONS[4], Utc::now(), &mut |_| {})
        .expect("generate")
        .model;
    let cat = engine.catalog();
    let mut i = 0;
    while m.assets.len() < 50 {
        let mut a = engine.new_asset_from(&cat.assets[i % cat.assets.len()], "bulk".into());
        a.name = format!("{} #{i}", a.name);
        m.add_asset(a, Utc::now()).expect("asset");
        i += 1;
    }
    let mut j = 0;
    while m.attackers.len() < 20 {
        let mut a =
            engine.new_attacker_from(&cat.attackers[j % cat.attackers.len()], "bulk".into());
        a.name = format!("{} #{j}", a.name);
        m.add_attacker(a, Utc::now()).expect("attacker");
        j += 1;
    }
    let start = Instant::now();
    let (change, _) = regenerate_controls(&engine, &mut m, Utc::now()).expect("regenerate");
    let regen = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    let summary = m.summary(&VerificationMap::new());
    let assess = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "50 assets x 20 attackers: {} COs, {} controls; control regeneration {:.1} ms, assurance summary {:.2} ms ({} objectives)",
        m.control_objectives.len(),
        m.controls.len(),
        regen,
        assess,
        summary.counts.objectives
    );
    let _ = change;
}
