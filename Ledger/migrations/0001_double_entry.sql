-- 0001: accounts, usage records, chained transfers and their caches.
--
-- Amounts are integer micro-Motes (1 Mote = 1,000,000). Times are Unix
-- milliseconds. Transfers and usage rows are never updated or deleted; a
-- mistake is corrected by a new transfer.

-- The host's identity: the Ed25519 public key that signs the chain.
CREATE TABLE ledger_meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- The treasury grants Motes, a device burns them, personas spend them.
-- Each row is signed (over its canonical bytes) by the host key.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('treasury', 'device', 'persona')),
    name TEXT NOT NULL,
    allowance_micro INTEGER NOT NULL DEFAULT 0 CHECK (allowance_micro >= 0),
    period_s INTEGER NOT NULL DEFAULT 86400 CHECK (period_s > 0),
    created_ms INTEGER NOT NULL,
    signature BLOB NOT NULL,
    UNIQUE (kind, name)
) STRICT;

-- What one generation used: the inputs of the price formula.
-- prompt_tokens counts prompt tokens computed for this request;
-- cached_prompt_tokens counts those served from a prefix cache.
CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    persona TEXT NOT NULL,
    model TEXT NOT NULL,
    parameter_count INTEGER NOT NULL CHECK (parameter_count >= 0),
    prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0),
    cached_prompt_tokens INTEGER NOT NULL CHECK (cached_prompt_tokens >= 0),
    output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
    elapsed_ms INTEGER NOT NULL CHECK (elapsed_ms >= 0),
    device TEXT NOT NULL,
    schedule_version INTEGER NOT NULL,
    price_micro INTEGER NOT NULL CHECK (price_micro >= 0),
    created_ms INTEGER NOT NULL
) STRICT;

-- The chain. seq is the position (1, 2, 3, … with no gaps); id makes a
-- retry harmless. A hold is a pending transfer; post, void and expire
-- resolve it (pending_id) and at most one may. hash is BLAKE2b-256 over
-- prev_hash and the row's canonical bytes; signature is Ed25519 over hash.
CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (
        kind IN ('grant', 'refill', 'charge', 'hold', 'post', 'void', 'expire',
            'correction')),
    debit_account INTEGER NOT NULL REFERENCES accounts (id),
    credit_account INTEGER NOT NULL REFERENCES accounts (id),
    amount_micro INTEGER NOT NULL CHECK (amount_micro >= 0),
    pending_id TEXT REFERENCES transfers (id),
    usage_id INTEGER REFERENCES usage (id),
    usage_digest BLOB,
    timeout_ms INTEGER,
    created_ms INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    signature BLOB NOT NULL,
    CHECK (debit_account <> credit_account)
) STRICT;

CREATE UNIQUE INDEX transfers_by_pending ON transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX transfers_by_debit ON transfers (debit_account, seq);
CREATE INDEX transfers_by_credit ON transfers (credit_account, seq);
CREATE INDEX transfers_by_usage ON transfers (usage_id) WHERE usage_id IS NOT NULL;

-- Cached balances, updated in the same transaction as each transfer; the
-- audit checks them against the sums of the transfers.
CREATE TABLE balances (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
    debits_posted INTEGER NOT NULL DEFAULT 0,
    credits_posted INTEGER NOT NULL DEFAULT 0,
    debits_pending INTEGER NOT NULL DEFAULT 0,
    credits_pending INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Cached set of unresolved holds, so expiry need not scan every hold.
CREATE TABLE open_holds (
    transfer_seq INTEGER PRIMARY KEY REFERENCES transfers (seq),
    timeout_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX open_holds_by_timeout ON open_holds (timeout_ms);

-- History is append-only. These triggers stop honest mistakes; the hash
-- chain and signatures catch everything else.
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are immutable; correct with a new transfer');
END;

CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are immutable; correct with a new transfer');
END;

CREATE TRIGGER usage_no_update BEFORE UPDATE ON usage
BEGIN
    SELECT RAISE(ABORT, 'usage records are immutable');
END;

CREATE TRIGGER usage_no_delete BEFORE DELETE ON usage
BEGIN
    SELECT RAISE(ABORT, 'usage records are immutable');
END;
