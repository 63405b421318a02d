//! A time-boxed, structure-aware fuzz loop on the stable toolchain: proptest strategies
//! generate inputs that follow (or deliberately break) the grammar of what is parsed, the
//! target runs under `catch_unwind`, and every rejection must carry a clear message.
//!
//! `RAMPART_FUZZ_SECONDS` (default 2) is the time per target, `RAMPART_FUZZ_SEED` fixes the
//! seed (printed on every run and on failure, so a failing case can be replayed), and
//! `RAMPART_FUZZ_REPORT` names a file that gets one line of counts per target.

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// What the target did with one input.
pub enum Outcome {
    /// Parsed and accepted.
    Accepted,
    /// Refused with this message (must be non-empty and readable).
    Rejected(String),
}

/// Time per target.
pub fn budget() -> Duration {
    let secs = std::env::var("RAMPART_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("RAMPART_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

fn shown<T: Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    if text.len() > 4000 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(4000).collect::<String>(),
            text.len()
        )
    } else {
        text
    }
}

/// Checks that a rejection message is something a person can act on.
pub fn clear(message: &str) -> Result<(), String> {
    let m = message.trim();
    if m.is_empty() {
        return Err("empty error message".into());
    }
    if m.contains("panicked") || m.contains("RUST_BACKTRACE") {
        return Err(format!("error message leaks a panic: {m}"));
    }
    Ok(())
}

/// Runs `check` on values of `strategy` until the time budget is spent. `check` returns the
/// outcome, or `Err` when a property is violated. Panics and violations fail the test with
/// the input and the seed.
pub fn fuzz<S>(name: &str, strategy: S, mut check: impl FnMut(S::Value) -> Result<Outcome, String>)
where
    S: Strategy,
    S::Value: Debug + Clone,
{
    let seed = seed();
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let budget = budget();
    let start = Instant::now();
    let (mut cases, mut accepted, mut rejected) = (0u64, 0u64, 0u64);
    while start.elapsed() < budget {
        let value = match strategy.new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(e) => panic!("fuzz {name}: cannot generate an input: {e}"),
        };
        let input = value.clone();
        let result = catch_unwind(AssertUnwindSafe(|| check(input)));
        cases += 1;
        match result {
            Ok(Ok(Outcome::Accepted)) => accepted += 1,
            Ok(Ok(Outcome::Rejected(message))) => {
                if let Err(why) = clear(&message) {
                    panic!(
                        "fuzz {name} (seed {seed}, case {cases}): unclear rejection: {why}\ninput: {}",
                        shown(&value)
                    );
                }
                rejected += 1;
            }
            Ok(Err(violation)) => panic!(
                "fuzz {name} (seed {seed}, case {cases}): {violation}\ninput: {}",
                shown(&value)
            ),
            Err(_) => panic!(
                "fuzz {name} (seed {seed}, case {cases}): the target panicked\ninput: {}",
                shown(&value)
            ),
        }
    }
    let line = format!(
        "fuzz {name}: {cases} cases ({accepted} accepted, {rejected} rejected, 0 panics) in {:.1}s, seed {seed}",
        start.elapsed().as_secs_f64()
    );
    println!("{line}");
    if let Ok(path) = std::env::var("RAMPART_FUZZ_REPORT") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
    assert!(cases > 0, "fuzz {name}: no case ran");
}
