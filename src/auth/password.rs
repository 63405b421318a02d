//! Password policy and hashing. Hashes are argon2id PHC strings with the configured cost
//! (OWASP's 19 MiB / 2 iterations / 1 lane by default); verification of an unknown account
//! still burns one verification against a fixed dummy hash so timing does not reveal
//! which emails exist.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longest accepted password; bounds hashing cost and request size.
pub const MAX_LEN: usize = 128;

/// Why a password does not meet the policy; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The spec's policy: at least 8 characters with an upper-case letter, a lower-case letter
/// and a digit; at most [`MAX_LEN`] characters.
pub fn check_policy(password: &str) -> Result<(), PolicyError> {
    let mut missing = Vec::new();
    let len = password.chars().count();
    if len < 8 {
        missing.push("at least 8 characters");
    }
    if !password.chars().any(|c| c.is_uppercase()) {
        missing.push("an upper-case letter");
    }
    if !password.chars().any(|c| c.is_lowercase()) {
        missing.push("a lower-case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if len > MAX_LEN {
        return Err(PolicyError(format!(
            "password must be at most {MAX_LEN} characters"
        )));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PolicyError(format!(
            "password must contain {}",
            missing.join(", ")
        )))
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

fn hasher(cost: Cost) -> Result<Argon2<'static>, argon2::Error> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=...`).
pub fn hash(password: &str, cost: Cost) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&super::secrets::random_bytes::<16>())?;
    Ok(hasher(cost)
        .map_err(argon2::password_hash::Error::from)?
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Verifies a password against a stored PHC string (parameters are read from the hash).
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same work as a real verification, for unknown accounts.
pub fn verify_dummy(password: &str, cost: Cost) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("Dummy-password-1", cost).unwrap_or_default());
    let _ = verify(password, phc);
}

/// Bounds how many argon2 computations run at once.
///
/// Every password hash or verification holds one permit while it runs, so the memory argon2
/// uses at any moment is at most `permits × argon2_memory_kib` (19 MiB each with the default
/// cost) and a flood of logins queues instead of exhausting memory and CPU. Waiting is bounded:
/// a caller that gets no permit within the wait is told the server is busy.
#[derive(Debug)]
pub struct Limiter {
    permits: usize,
    in_use: Mutex<usize>,
    freed: Condvar,
    wait: Duration,
}

/// A held permit; released on drop.
#[derive(Debug)]
pub struct Permit<'a>(&'a Limiter);

impl Limiter {
    /// A limiter with `permits` concurrent computations (at least one) and the longest wait.
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: permits.max(1),
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            wait,
        }
    }

    /// Configured number of concurrent computations.
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Waits for a permit; `None` when none became free within the configured wait.
    pub fn acquire(&self) -> Option<Permit<'_>> {
        let deadline = Instant::now() + self.wait;
        // A panic while holding the lock leaves a plain counter behind; keep using it.
        let mut used = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= self.permits {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (guard, timeout) = self
                .freed
                .wait_timeout(used, left)
                .unwrap_or_else(|p| p.into_inner());
            used = guard;
            if timeout.timed_out() && *used >= self.permits {
                return None;
            }
        }
        *used += 1;
        Some(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut used = self.0.in_use.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_bounds_concurrency_and_times_out() {
        let l = Limiter::new(2, Duration::from_millis(50));
        let a = l.acquire().expect("first");
        let b = l.acquire().expect("second");
        let start = Instant::now();
        assert!(
            l.acquire().is_none(),
            "a third permit must wait and give up"
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        drop(a);
        let c = l.acquire().expect("a released permit is reusable");
        drop((b, c));
        // Many threads never exceed the bound.
        let l = std::sync::Arc::new(Limiter::new(3, Duration::from_secs(10)));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let now = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (l, peak, now) = (l.clone(), peak.clone(), now.clone());
                std::thread::spawn(move || {
                    let _p = l.acquire().expect("permit");
                    let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
    }

    const CHEAP: Cost = Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn policy_names_what_is_missing() {
        assert!(check_policy("Abcdefg1").is_ok());
        let e = check_policy("abc").unwrap_err().0;
        assert!(
            e.contains("8 characters") && e.contains("upper-case") && e.contains("digit"),
            "{e}"
        );
        assert!(
            check_policy("ABCDEFG1")
                .unwrap_err()
                .0
                .contains("lower-case")
        );
        assert!(
            check_policy(&format!("Aa1{}", "x".repeat(200)))
                .unwrap_err()
                .0
                .contains("at most")
        );
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("Correct-Horse-1", CHEAP).expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Correct-Horse-1", &h));
        assert!(!verify("correct-horse-1", &h));
        assert!(!verify("x", "not a hash"));
    }
}
