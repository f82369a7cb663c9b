//! The ledger: accounts, price lists, reservations and the usage chain in one SQLite file.

use crate::chain::{COLUMNS, GENESIS, Row, int};
use crate::owner::Owner;
use crate::prices::PriceList;
use crate::{LedgerError, schema};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use spell_core::ErrorCode;
use spell_runtime::{Allowance, CastContext, Denied, HookError, MeteringHook, UsageRecord};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// `PRAGMA application_id` of a ledger file ("SPLL").
const APPLICATION_ID: i64 = 0x5350_4C4C;
/// How long a write waits for another process's write before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an account's budget renews. Periods are UTC calendar days and months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Never: the budget is a prepaid balance (raise it to top up).
    Prepaid,
    /// Every UTC day.
    Day,
    /// Every UTC calendar month.
    Month,
}

impl Period {
    /// The snake_case name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Prepaid => "prepaid",
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The period for a name (`prepaid`, `day`, `month`).
    pub fn parse(s: &str) -> Option<Period> {
        [Period::Prepaid, Period::Day, Period::Month]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// When the period containing `now_ms` started, in ms since the Unix epoch.
    fn start_ms(self, now_ms: i64) -> i64 {
        const DAY: i64 = 86_400_000;
        match self {
            Period::Prepaid => 0,
            Period::Day => now_ms.div_euclid(DAY) * DAY,
            Period::Month => jiff::Timestamp::from_millisecond(now_ms)
                .ok()
                .and_then(|t| {
                    let d = t.to_zoned(jiff::tz::TimeZone::UTC).date().first_of_month();
                    d.to_zoned(jiff::tz::TimeZone::UTC).ok()
                })
                .map_or(0, |z| z.timestamp().as_millisecond()),
        }
    }
}

/// An account's budget: `amount` micro-units per `period`, or a prepaid balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Micro-units of the price list's currency.
    pub amount: i64,
    /// How often it renews.
    pub period: Period,
}

/// Where an account stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountStatus {
    /// The account id.
    pub id: String,
    /// Its budget, micro-units.
    pub budget: i64,
    /// How often the budget renews.
    pub period: Period,
    /// Charged in the current period (all time for prepaid).
    pub spent: i64,
    /// Held by casts in flight.
    pub reserved: i64,
    /// What new casts can still spend: budget − spent − reserved.
    pub available: i64,
}

/// What [`Ledger::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The cast id was already in the ledger: nothing was written or charged.
    pub duplicate: bool,
    /// The rated cost, micro-units.
    pub cost: i64,
    /// What was charged: the cost, capped at the cast's reservation.
    pub charged: i64,
}

/// The last row of the chain: `seq` rows, the last one's hash. Sign it (`spell ledger head
/// --sign`) and check it later with [`Ledger::verify_head`] to detect a replaced or truncated
/// file, which the chain alone cannot show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// How many rows (the last row's position).
    pub seq: i64,
    /// The last row's hash ([`GENESIS`] for an empty ledger).
    pub hash: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Head {
    type Err = LedgerError;

    /// Parses `SEQ HASH`, as printed by `Display`.
    fn from_str(s: &str) -> Result<Head, LedgerError> {
        let bad = || LedgerError::Invalid(format!("`{}` is not a ledger head", s.trim()));
        let (seq, hash) = s.trim().split_once(' ').ok_or_else(bad)?;
        let seq = seq.parse().map_err(|_| bad())?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Head {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// The usage ledger. Cheap to clone (shared); `Send + Sync`.
///
/// One connection writes (behind a mutex; other processes wait on SQLite's lock, up to 10 s);
/// reports and verification read on connections of their own, which WAL mode lets run beside
/// the writer. Writes use `synchronous = NORMAL`: a committed row survives a process crash, and
/// a power loss can lose the last few.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    owner: Owner,
    released: u64,
}

struct Writer {
    conn: Connection,
    /// Parsed price lists by version (a stored version never changes).
    prices: HashMap<String, Arc<PriceList>>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection, LedgerError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn valid_id(id: &str) -> Result<(), LedgerError> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(LedgerError::Invalid(
            "an account id is 1 to 256 characters without control characters".into(),
        ));
    }
    Ok(())
}

impl Ledger {
    /// Opens (or creates) the ledger at `path`, and releases the reservations of processes that
    /// ended without recording their casts (see [`Ledger::released_reservations`]).
    ///
    /// ```
    /// use spell_ledger::{Budget, Ledger, Period, PriceList};
    /// let dir = tempfile::tempdir()?;
    /// let ledger = Ledger::open(dir.path().join("ledger.db"))?;
    /// ledger.set_prices(&PriceList::from_toml("version = \"v1\"\nper_cast = 100")?)?;
    /// ledger.set_account("acme", Budget { amount: 1_000, period: Period::Month })?;
    /// assert_eq!(ledger.account("acme")?.available, 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let path = path.as_ref().to_path_buf();
        let conn = open_conn(&path, OpenFlags::default())?;
        // Small pages for a new file (no effect on an existing one): a cast changes a few rows
        // in a handful of pages, and every changed page is written whole to the WAL.
        conn.pragma_update(None, "page_size", 1024)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A checkpoint (the WAL moved into the database, with an fsync) runs inside the commit
        // that crosses the threshold: every 4,000 pages, about every 400 casts, it stays off the
        // p99 (SQLite's default of 1,000 put 2-7 ms on it).
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        init_schema(&conn, &path)?;
        let owner = Owner::claim(&path)?;
        let released = release_stale(&conn, &path)?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(Writer {
                    conn,
                    prices: HashMap::new(),
                }),
                owner,
                released,
            }),
        })
    }

    /// How many reservations of ended processes [`Ledger::open`] released. Their casts were
    /// never recorded, so they are not billed.
    pub fn released_reservations(&self) -> u64 {
        self.inner.released
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.inner.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reader(&self) -> Result<Connection, LedgerError> {
        open_conn(&self.inner.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// Adds an account or changes its budget (what it spent so far stays).
    pub fn set_account(&self, id: &str, budget: Budget) -> Result<(), LedgerError> {
        valid_id(id)?;
        if budget.amount < 0 {
            return Err(LedgerError::Invalid("a budget is not negative".into()));
        }
        self.writer().conn.execute(
            "INSERT INTO accounts (id, budget, period, period_start_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET budget = ?2, period = ?3",
            params![
                id,
                budget.amount,
                budget.period.as_str(),
                budget.period.start_ms(now_ms())
            ],
        )?;
        Ok(())
    }

    /// Where an account stands now.
    pub fn account(&self, id: &str) -> Result<AccountStatus, LedgerError> {
        let conn = self.reader()?;
        account_status(&conn, id, now_ms())?.ok_or_else(|| LedgerError::AccountUnknown(id.into()))
    }

    /// Every account, by id.
    pub fn accounts(&self) -> Result<Vec<AccountStatus>, LedgerError> {
        let conn = self.reader()?;
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM accounts ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let now = now_ms();
        ids.iter()
            .filter_map(|id| account_status(&conn, id, now).transpose())
            .collect()
    }

    /// Makes `prices` the current price list. A version already stored must have the same
    /// prices: rows name their version, so its meaning never changes.
    pub fn set_prices(&self, prices: &PriceList) -> Result<(), LedgerError> {
        let text = toml::to_string(prices).map_err(|e| LedgerError::Prices(e.to_string()))?;
        let mut w = self.writer();
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT toml FROM prices WHERE version = ?1",
                [&prices.version],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            Some(t) if t != text => {
                return Err(LedgerError::Prices(format!(
                    "version `{}` is stored with other prices; give the new list a new version",
                    prices.version
                )));
            }
            // Re-stating a stored version makes it current again.
            Some(_) => tx.execute("DELETE FROM prices WHERE version = ?1", [&prices.version])?,
            None => 0,
        };
        tx.execute(
            "INSERT INTO prices (version, toml, created_at_ms) VALUES (?1, ?2, ?3)",
            params![prices.version, text, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The current price list, if one was set.
    pub fn prices(&self) -> Result<Option<PriceList>, LedgerError> {
        let conn = self.reader()?;
        current_prices(&conn)?
            .map(|(_, text)| PriceList::from_toml(&text))
            .transpose()
    }

    /// A metering hook that bills `account`: use it as a cast's or a runtime's meter.
    ///
    /// ```
    /// # use spell_ledger::{Budget, Ledger, Period, PriceList};
    /// # let dir = tempfile::tempdir()?;
    /// # let ledger = Ledger::open(dir.path().join("ledger.db"))?;
    /// ledger.set_account("acme", Budget { amount: 0, period: Period::Prepaid })?;
    /// let meter = ledger.meter("acme")?;     // spell.cast(CastRequest::new().meter(meter))
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn meter(&self, account: &str) -> Result<Arc<LedgerMeter>, LedgerError> {
        self.account(account)?;
        Ok(Arc::new(LedgerMeter {
            ledger: self.clone(),
            account: account.to_string(),
        }))
    }

    /// Reserves what `account` can pay for the cast `ctx` and returns the allowance that keeps
    /// the cast within it, in one transaction, so concurrent casts (threads or processes) never
    /// reserve more than the account has.
    ///
    /// ## Return Value
    /// - `Ok(allowance)`: reserved; `max_fuel` / `max_wall_time_ms` are set when the worst case
    ///   under the cast's limits is more than the account can pay.
    /// - `Err(Denied)` with code `E-BILL-001` when it cannot pay even a minimal cast,
    ///   `E-BILL-002` for an unknown account, `E-BILL-003` without a price list, `E-BILL-005`
    ///   when the database fails (fail closed).
    pub fn authorize(&self, account: &str, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        self.try_authorize(account, ctx).map_err(|e| match e {
            Reserve::Denied(d) => d,
            Reserve::Failed(e) => Denied::with_code(ErrorCode::LedgerStorage, e.to_string()),
        })
    }

    fn try_authorize(&self, account: &str, ctx: &CastContext<'_>) -> Result<Allowance, Reserve> {
        let mut w = self.writer();
        let w = &mut *w;
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(status) = account_status(&tx, account, now_ms())? else {
            return Err(Reserve::Denied(Denied::with_code(
                ErrorCode::BillAccountUnknown,
                format!("account `{account}` is not in the ledger"),
            )));
        };
        let Some(version) = current_version(&tx)? else {
            return Err(Reserve::Denied(Denied::with_code(
                ErrorCode::BillPricesInvalid,
                "the ledger has no price list",
            )));
        };
        let prices = prices_of(&tx, &mut w.prices, &version)?;
        let Some(sized) = prices.size(&ctx.limits, status.available) else {
            return Err(Reserve::Denied(Denied::with_code(
                ErrorCode::BillBudgetExhausted,
                format!(
                    "account `{account}` cannot pay for a cast: {} of its {} micro-units are \
                     left ({} spent, {} held by casts in flight); a cast of `{}` under its \
                     limits needs at least {}",
                    status.available.max(0),
                    status.budget,
                    status.spent,
                    status.reserved,
                    ctx.spell_name,
                    prices.minimum(&ctx.limits)
                ),
            )));
        };
        tx.prepare_cached(
            "INSERT INTO reservations (cast_id, account, amount, price_version, owner)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            ctx.cast_id,
            account,
            sized.reserve,
            version,
            self.inner.owner.id
        ])?;
        tx.commit()?;
        Ok(Allowance {
            max_fuel: sized.max_fuel,
            max_wall_time_ms: sized.max_wall_time_ms,
        })
    }

    /// Appends `usage` as one chained row, rates it, settles its reservation and charges the
    /// account, in one transaction. A cast id already in the ledger is a no-op, so a usage
    /// stream can be applied more than once (the seam for service mode: a single writer applies
    /// each usage message with `record`, and redeliveries cost nothing).
    ///
    /// The charge is the rated cost capped at the cast's reservation, so an account never pays
    /// more than it had; a record without a reservation (no `authorize`, e.g. a usage stream) is
    /// charged its cost. The account of the reservation wins over `account`.
    pub fn record(&self, account: &str, usage: &UsageRecord) -> Result<Recorded, LedgerError> {
        let mut w = self.writer();
        let w = &mut *w;
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seen: Option<i64> = tx
            .prepare_cached("SELECT seq FROM usage WHERE cast_id = ?1")?
            .query_row([&usage.cast_id], |r| r.get(0))
            .optional()?;
        if seen.is_some() {
            return Ok(Recorded {
                duplicate: true,
                cost: 0,
                charged: 0,
            });
        }
        let reservation: Option<(String, i64, String)> = tx
            .prepare_cached(
                "DELETE FROM reservations WHERE cast_id = ?1
                 RETURNING account, amount, price_version",
            )?
            .query_row([&usage.cast_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (account, cap, version) = match reservation {
            Some((a, amount, v)) => (a, Some(amount), Some(v)),
            None => (account.to_string(), None, None),
        };
        let version = match version {
            Some(v) => Some(v),
            None => current_version(&tx)?,
        };
        let prices = match version {
            Some(v) => Some((v.clone(), prices_of(&tx, &mut w.prices, &v)?)),
            None => None,
        };
        let (version, cost) = match prices {
            Some((v, p)) => (v, p.cost(usage)),
            None if usage.outcome == spell_runtime::Outcome::Denied => (String::new(), 0),
            None => return Err(LedgerError::Prices("the ledger has no price list".into())),
        };
        let charged = cap.map_or(cost, |c| cost.min(c));
        let now = now_ms();
        let (last_seq, last_hash): (i64, String) = tx
            .prepare_cached("SELECT seq, hash FROM usage ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, GENESIS.to_string()));
        let row = Row {
            seq: last_seq + 1,
            cast_id: usage.cast_id.clone(),
            account: account.clone(),
            spell_digest: usage.spell_digest.clone(),
            spell_name: usage.spell_name.clone(),
            outcome: usage.outcome.as_str().to_string(),
            exit_code: usage.exit_code.map(i64::from),
            fuel: usage.fuel.map(int),
            wall_ns: int(usage.wall_ns),
            cpu_ns: int(usage.cpu_ns),
            memory_peak_bytes: int(usage.memory_peak_bytes),
            stdout_bytes: int(usage.stdout_bytes),
            stderr_bytes: int(usage.stderr_bytes),
            net_requests: int(usage.net_requests),
            net_bytes_in: int(usage.net_bytes_in),
            net_bytes_out: int(usage.net_bytes_out),
            disk_bytes_written: int(usage.disk_bytes_written),
            started_at_ms: int(usage.started_at_ms),
            recorded_at_ms: now,
            price_version: version,
            cost,
            charged,
            prev_hash: last_hash,
            trace_id: usage.trace_id.clone(),
        };
        row.insert(&tx, &row.hash())?;
        if charged > 0 {
            // A new period starts the account's spending from zero.
            tx.prepare_cached(
                "UPDATE accounts SET
                   spent = CASE WHEN period_start_ms < ?3 THEN ?2 ELSE spent + ?2 END,
                   period_start_ms = MAX(period_start_ms, ?3)
                 WHERE id = ?1",
            )?
            .execute(params![account, charged, period_start(&tx, &account, now)?])?;
        }
        tx.commit()?;
        Ok(Recorded {
            duplicate: false,
            cost,
            charged,
        })
    }

    /// The last row of the chain.
    pub fn head(&self) -> Result<Head, LedgerError> {
        let conn = self.reader()?;
        Ok(conn
            .query_row(
                "SELECT seq, hash FROM usage ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(Head {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or(Head {
                seq: 0,
                hash: GENESIS.into(),
            }))
    }

    /// Recomputes the whole chain and returns its head.
    ///
    /// ## Return Value
    /// - `Ok(head)`: every row is intact and in place.
    /// - `Err(LedgerError::Tampered { seq, .. })`: the first row that was changed, inserted or
    ///   follows a removed one (`E-BILL-004`). Removing the *last* rows keeps the chain whole:
    ///   check a signed head with [`Ledger::verify_head`] for that.
    pub fn verify(&self) -> Result<Head, LedgerError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM usage ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        let mut head = Head {
            seq: 0,
            hash: GENESIS.into(),
        };
        while let Some(r) = rows.next()? {
            let (row, stored) = Row::from_sql(r)?;
            let broken = |reason: String| LedgerError::Tampered {
                seq: row.seq,
                cast_id: row.cast_id.clone(),
                reason,
            };
            if row.seq != head.seq + 1 {
                return Err(broken(format!("row {} is missing before it", head.seq + 1)));
            }
            if row.prev_hash != head.hash {
                return Err(broken("it does not chain to the row before it".into()));
            }
            let hash = row.hash();
            if hash != stored {
                return Err(broken("its contents do not match its hash".into()));
            }
            head = Head { seq: row.seq, hash };
        }
        Ok(head)
    }

    /// Checks that the chain is intact and still contains `head` (from an earlier
    /// [`Ledger::head`]), so the file was neither replaced nor cut back since.
    pub fn verify_head(&self, head: &Head) -> Result<Head, LedgerError> {
        let now = self.verify()?;
        let conn = self.reader()?;
        let found: Option<String> = conn
            .query_row("SELECT hash FROM usage WHERE seq = ?1", [head.seq], |r| {
                r.get(0)
            })
            .optional()?;
        let found = found.or_else(|| (head.seq == 0).then(|| GENESIS.to_string()));
        if found.as_deref() != Some(head.hash.as_str()) {
            return Err(LedgerError::HeadMissing {
                seq: head.seq,
                hash: head.hash.clone(),
            });
        }
        Ok(now)
    }

    pub(crate) fn read(&self) -> Result<Connection, LedgerError> {
        self.reader()
    }
}

/// A failed reservation: a refusal, or the database failing.
enum Reserve {
    Denied(Denied),
    Failed(LedgerError),
}

impl<E: Into<LedgerError>> From<E> for Reserve {
    fn from(e: E) -> Reserve {
        Reserve::Failed(e.into())
    }
}

fn init_schema(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let not_a_ledger = || {
        LedgerError::Invalid(format!(
            "{} is an SQLite database but not a Spell ledger (version {version})",
            path.display()
        ))
    };
    match (app, version) {
        (0, 0) if tables == 0 => {
            conn.execute_batch(schema::SCHEMA)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            conn.pragma_update(None, "user_version", schema::VERSION)?;
            Ok(())
        }
        (APPLICATION_ID, schema::VERSION) => Ok(()),
        (APPLICATION_ID, 1..schema::VERSION) => migrate(conn),
        (APPLICATION_ID, v) if v > schema::VERSION => Err(LedgerError::Invalid(format!(
            "{} is a ledger of schema version {v}, newer than this Spell's {}",
            path.display(),
            schema::VERSION
        ))),
        _ => Err(not_a_ledger()),
    }
}

/// Brings a file of an older schema up to date, in one transaction (so a process that opens it
/// at the same time sees it before or after, and a crash leaves it as it was).
fn migrate(conn: &Connection) -> Result<(), LedgerError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        // Read again under the lock: another process may have migrated it meanwhile.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let done = usize::try_from(version - 1).unwrap_or(0);
        for step in schema::MIGRATIONS.iter().skip(done) {
            conn.execute_batch(step)?;
        }
        conn.pragma_update(None, "user_version", schema::VERSION)
    })();
    match result {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

/// Releases the reservations of owners that are gone; returns how many.
fn release_stale(conn: &Connection, path: &Path) -> Result<u64, LedgerError> {
    let owners: Vec<String> = conn
        .prepare("SELECT DISTINCT owner FROM reservations")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut released = 0;
    for owner in owners.iter().filter(|o| Owner::is_gone(path, o)) {
        released += conn.execute("DELETE FROM reservations WHERE owner = ?1", [owner])? as u64;
    }
    Ok(released)
}

fn account_status(
    conn: &Connection,
    id: &str,
    now: i64,
) -> Result<Option<AccountStatus>, LedgerError> {
    let row: Option<(i64, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT budget, period, spent, period_start_ms FROM accounts WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((budget, period, spent, start)) = row else {
        return Ok(None);
    };
    let period = Period::parse(&period)
        .ok_or_else(|| LedgerError::Invalid(format!("account `{id}` has period `{period}`")))?;
    let spent = if period.start_ms(now) > start {
        0
    } else {
        spent
    };
    let reserved: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE account = ?1")?
        .query_row([id], |r| r.get(0))?;
    Ok(Some(AccountStatus {
        id: id.to_string(),
        budget,
        period,
        spent,
        reserved,
        available: budget.saturating_sub(spent).saturating_sub(reserved),
    }))
}

fn period_start(conn: &Connection, account: &str, now: i64) -> Result<i64, LedgerError> {
    let period: Option<String> = conn
        .prepare_cached("SELECT period FROM accounts WHERE id = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?;
    Ok(period
        .as_deref()
        .and_then(Period::parse)
        .map_or(0, |p| p.start_ms(now)))
}

fn current_prices(conn: &Connection) -> Result<Option<(String, String)>, LedgerError> {
    Ok(conn
        .prepare_cached("SELECT version, toml FROM prices ORDER BY rowid DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The version of the current price list, if one was set.
fn current_version(conn: &Connection) -> Result<Option<String>, LedgerError> {
    Ok(conn
        .prepare_cached("SELECT version FROM prices ORDER BY rowid DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// The prices of `version`, read and parsed once per writer: a stored version's prices never
/// change ([`Ledger::set_prices`] refuses that), so the cache needs no invalidation.
fn prices_of(
    conn: &Connection,
    cache: &mut HashMap<String, Arc<PriceList>>,
    version: &str,
) -> Result<Arc<PriceList>, LedgerError> {
    if let Some(p) = cache.get(version) {
        return Ok(p.clone());
    }
    let text: String = conn
        .prepare_cached("SELECT toml FROM prices WHERE version = ?1")?
        .query_row([version], |r| r.get(0))?;
    let p = Arc::new(PriceList::from_toml(&text)?);
    cache.insert(version.to_string(), p.clone());
    Ok(p)
}

/// A [`MeteringHook`] that bills one account of a [`Ledger`] (from [`Ledger::meter`]).
pub struct LedgerMeter {
    ledger: Ledger,
    account: String,
}

impl LedgerMeter {
    /// The account it bills.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The ledger it writes to.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

impl MeteringHook for LedgerMeter {
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        self.ledger.authorize(&self.account, ctx)
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        self.ledger
            .record(&self.account, usage)
            .map(drop)
            .map_err(|e| HookError::new("record", e.to_string()).with_source(e))
    }
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Ledger>();
    assert_send_sync::<LedgerMeter>();
};
