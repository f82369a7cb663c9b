//! The ledger's SQLite schema.
//!
//! `usage` is append-only: triggers refuse UPDATE and DELETE, so only someone who drops them
//! (outside Spell) can change a row, and the hash chain shows it. Money is integer micro-units.

/// Bumped when the schema changes; a newer file is refused, an older one migrated
/// ([`MIGRATIONS`]).
pub(crate) const VERSION: i64 = 3;

/// What takes a file of version `n` (the index plus one) to version `n + 1`. Columns are only
/// added to `usage`, and a row's hash leaves an empty added column out (see `chain.rs`), so rows
/// written before a migration still verify after it.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1 -> 2: the W3C trace id of the cast, when it joined one.
    "ALTER TABLE usage ADD COLUMN trace_id TEXT;",
    // 2 -> 3: reservations WITHOUT ROWID and without the account index: one b-tree instead of
    // three, so a reservation and its release each write one page to the WAL (the table only
    // holds the casts in flight, so summing an account's reservations scans a page or two).
    "CREATE TABLE reservations_v3 (
        cast_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        amount INTEGER NOT NULL,
        price_version TEXT NOT NULL,
        owner TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO reservations_v3 SELECT cast_id, account, amount, price_version, owner
        FROM reservations;
    DROP TABLE reservations;
    ALTER TABLE reservations_v3 RENAME TO reservations;",
];

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    -- micro-units per period, or the prepaid balance when period = 'prepaid'
    budget INTEGER NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('prepaid', 'day', 'month')),
    -- what the account was charged since period_start_ms (all time for prepaid)
    spent INTEGER NOT NULL DEFAULT 0,
    period_start_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS prices (
    version TEXT PRIMARY KEY,
    toml TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
-- allowances of casts between authorize and record; owner is the process (see owner.rs).
-- WITHOUT ROWID, no other index: one page written per reservation (see MIGRATIONS)
CREATE TABLE IF NOT EXISTS reservations (
    cast_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    amount INTEGER NOT NULL,
    price_version TEXT NOT NULL,
    owner TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    seq INTEGER PRIMARY KEY,
    cast_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    spell_digest TEXT NOT NULL,
    spell_name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    exit_code INTEGER,
    fuel INTEGER,
    wall_ns INTEGER NOT NULL,
    cpu_ns INTEGER NOT NULL,
    memory_peak_bytes INTEGER NOT NULL,
    stdout_bytes INTEGER NOT NULL,
    stderr_bytes INTEGER NOT NULL,
    net_requests INTEGER NOT NULL,
    net_bytes_in INTEGER NOT NULL,
    net_bytes_out INTEGER NOT NULL,
    disk_bytes_written INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    price_version TEXT NOT NULL,
    -- the rated cost, and what was charged (the cost, capped at the cast's reservation)
    cost INTEGER NOT NULL,
    charged INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    trace_id TEXT
);
CREATE INDEX IF NOT EXISTS usage_account_time ON usage (account, started_at_ms);
CREATE TRIGGER IF NOT EXISTS usage_no_update BEFORE UPDATE ON usage
BEGIN SELECT RAISE(ABORT, 'the usage ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS usage_no_delete BEFORE DELETE ON usage
BEGIN SELECT RAISE(ABORT, 'the usage ledger is append-only'); END;
";
