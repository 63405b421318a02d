-- Credits (issue 20, migration 24): admin-set monthly allowances and the ledger of what LLM operations
-- consumed and what admins adjusted. Balances are computed per calendar month (UTC), so the
-- reset on the 1st needs no job: a new month simply has no rows yet.

-- One allowance per subject: a user, an organization (its pool), or a member's share of an
-- org pool (`org_member`, subject = user id, org_id = the org) set by the org's admins.
CREATE TABLE credit_allowances (
    subject_kind      TEXT NOT NULL CHECK (subject_kind IN ('user', 'org', 'org_member')),
    subject_id        TEXT NOT NULL,
    org_id            TEXT NOT NULL DEFAULT '',
    monthly_allowance INTEGER NOT NULL CHECK (monthly_allowance >= 0),
    updated_by        TEXT,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, org_id)
);

-- Every consumption (negative amount, kind 'usage') and adjustment (kind 'adjustment').
-- `period` is the month it counts in (YYYY-MM, UTC). For usage, `user_id` is who ran the
-- operation and (subject_kind, subject_id) the account that paid (the user, or the org pool).
CREATE TABLE credit_ledger (
    id           INTEGER PRIMARY KEY,
    period       TEXT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'org')),
    subject_id   TEXT NOT NULL,
    user_id      TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('usage', 'adjustment')),
    operation    TEXT NOT NULL DEFAULT '',
    amount       INTEGER NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    actor_id     TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX credit_ledger_subject ON credit_ledger(subject_kind, subject_id, period);
CREATE INDEX credit_ledger_user ON credit_ledger(user_id, id);

-- The 80% and 100% notices already sent, once per subject, month and level.
CREATE TABLE credit_notices (
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    period       TEXT NOT NULL,
    level        INTEGER NOT NULL,
    sent_at      TEXT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, period, level)
);
