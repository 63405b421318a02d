-- Account hardening (issue 15).
--
-- auth_challenges.failures: wrong second-factor answers given with one pre-auth token; the
-- token is deleted once it reaches the limit, so one password step buys only a few guesses.
-- mfa_totp_pending.session_hash: the session that started an authenticator setup. Only that
-- session may see the pending secret or confirm it; another session of the same user (for
-- example a password-only one opened before enrollment) cannot read or finish it.
-- Recovery codes move from bare SHA-256 to HMAC-SHA256 under a key derived from the master
-- key ("h1:" prefix); existing rows are re-keyed by the server at start (HMAC over the stored
-- SHA-256), which needs the master key and therefore cannot happen in SQL.

ALTER TABLE auth_challenges ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mfa_totp_pending ADD COLUMN session_hash TEXT NOT NULL DEFAULT '';
