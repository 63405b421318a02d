//! Login throttling: exponential backoff per account, per client IP and per account's second
//! factor after repeated failures. Pure rules here; the counters live in the `login_throttle`
//! table and are charged before the expensive check (see `AuthService::login`).

/// How long a subject must wait after `failures` consecutive failures: nothing for the first
/// `free` failures, then 1 s, 2 s, 4 s … capped at `max_seconds`.
pub fn lockout_seconds(failures: u32, free: u32, max_seconds: u64) -> u64 {
    if failures < free {
        return 0;
    }
    let exp = (failures - free).min(30);
    (1u64 << exp).min(max_seconds)
}

/// The throttle key of an account (case-insensitive email).
pub fn account_subject(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// The throttle key of an account's second-factor step. Keyed by user id (not the typed
/// email) and separate from the password's key, so a correct password never clears it.
pub fn mfa_subject(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// The throttle key of a client address.
pub fn ip_subject(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(lockout_seconds(0, 5, 900), 0);
        assert_eq!(lockout_seconds(4, 5, 900), 0);
        assert_eq!(lockout_seconds(5, 5, 900), 1);
        assert_eq!(lockout_seconds(6, 5, 900), 2);
        assert_eq!(lockout_seconds(9, 5, 900), 16);
        assert_eq!(lockout_seconds(40, 5, 900), 900);
    }
}
