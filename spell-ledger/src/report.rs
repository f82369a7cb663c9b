//! Reports (sums by spell, account or day) and the export of rated usage lines.

use crate::{Ledger, LedgerError};
use serde::Serialize;

/// What a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The spell's name.
    Spell,
    /// The account.
    Account,
    /// The UTC day the cast started (`YYYY-MM-DD`).
    Day,
    /// The W3C trace the cast joined (what one request of the host cost, over all its casts);
    /// casts outside a trace are under `-`.
    Trace,
}

impl GroupBy {
    fn sql(self) -> &'static str {
        match self {
            GroupBy::Spell => "spell_name",
            GroupBy::Account => "account",
            GroupBy::Day => "strftime('%Y-%m-%d', started_at_ms / 1000, 'unixepoch')",
            GroupBy::Trace => "COALESCE(trace_id, '-')",
        }
    }
}

/// Which rows a report or export covers. By default, all of them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this account.
    pub account: Option<String>,
    /// Only casts started at or after this time, ms since the Unix epoch.
    pub since_ms: Option<i64>,
}

impl Filter {
    fn sql(&self) -> (&'static str, Option<&str>, i64) {
        (
            "WHERE (?1 IS NULL OR account = ?1) AND started_at_ms >= ?2",
            self.account.as_deref(),
            self.since_ms.unwrap_or(i64::MIN),
        )
    }
}

/// One line of a report: the sums of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    /// The spell name, account or day.
    pub key: String,
    /// Casts recorded, denied ones included.
    pub casts: i64,
    /// Casts denied.
    pub denied: i64,
    /// Fuel used.
    pub fuel: i64,
    /// CPU time, ns.
    pub cpu_ns: i64,
    /// Wall time, ns.
    pub wall_ns: i64,
    /// Network bytes, in plus out.
    pub net_bytes: i64,
    /// Output bytes, stdout plus stderr.
    pub output_bytes: i64,
    /// Rated cost, micro-units.
    pub cost: i64,
    /// Charged, micro-units.
    pub charged: i64,
}

/// One rated usage line, as a billing system imports it (e.g. as metered-subscription usage:
/// `account` is the customer, `cast_id` the idempotency key, `charged` the amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatedUsage {
    /// Position in the chain.
    pub seq: i64,
    /// Unique id of the cast: an idempotency key.
    pub cast_id: String,
    /// The account billed.
    pub account: String,
    /// The spell's name.
    pub spell_name: String,
    /// sha256 of the spell's `spell.json`.
    pub spell_digest: String,
    /// How the cast ended.
    pub outcome: String,
    /// When the cast started, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// Fuel used (0 when metered without fuel).
    pub fuel: i64,
    /// CPU time, ns.
    pub cpu_ns: i64,
    /// Wall time, ns.
    pub wall_ns: i64,
    /// Peak memory, bytes.
    pub memory_peak_bytes: i64,
    /// Network bytes, in plus out.
    pub net_bytes: i64,
    /// Output bytes, stdout plus stderr.
    pub output_bytes: i64,
    /// The price list that rated it.
    pub price_version: String,
    /// Rated cost, micro-units.
    pub cost: i64,
    /// Charged, micro-units.
    pub charged: i64,
    /// The row's chain hash.
    pub hash: String,
    /// The W3C trace id of the request the cast served, when it joined one (`null` otherwise),
    /// to find the cast in a tracing backend.
    pub trace_id: Option<String>,
}

impl RatedUsage {
    /// The CSV header matching [`RatedUsage::csv`].
    pub const CSV_HEADER: &'static str = "seq,cast_id,account,spell_name,spell_digest,outcome,\
        started_at_ms,fuel,cpu_ns,wall_ns,memory_peak_bytes,net_bytes,output_bytes,\
        price_version,cost,charged,hash,trace_id";

    /// The line as CSV (RFC 4180 quoting).
    pub fn csv(&self) -> String {
        [
            self.seq.to_string(),
            csv_field(&self.cast_id),
            csv_field(&self.account),
            csv_field(&self.spell_name),
            csv_field(&self.spell_digest),
            csv_field(&self.outcome),
            self.started_at_ms.to_string(),
            self.fuel.to_string(),
            self.cpu_ns.to_string(),
            self.wall_ns.to_string(),
            self.memory_peak_bytes.to_string(),
            self.net_bytes.to_string(),
            self.output_bytes.to_string(),
            csv_field(&self.price_version),
            self.cost.to_string(),
            self.charged.to_string(),
            csv_field(&self.hash),
            csv_field(self.trace_id.as_deref().unwrap_or_default()),
        ]
        .join(",")
    }
}

impl ReportLine {
    /// The CSV header matching [`ReportLine::csv`].
    pub const CSV_HEADER: &'static str =
        "key,casts,denied,fuel,cpu_ns,wall_ns,net_bytes,output_bytes,cost,charged";

    /// The line as CSV (RFC 4180 quoting).
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{}",
            csv_field(&self.key),
            self.casts,
            self.denied,
            self.fuel,
            self.cpu_ns,
            self.wall_ns,
            self.net_bytes,
            self.output_bytes,
            self.cost,
            self.charged
        )
    }
}

/// Quotes a field when it holds a comma, quote or line break (account ids are the host's).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Ledger {
    /// Sums of the rows `filter` selects, one line per group, ordered by key.
    pub fn report(&self, by: GroupBy, filter: &Filter) -> Result<Vec<ReportLine>, LedgerError> {
        let conn = self.read()?;
        let (filter_sql, account, since) = filter.sql();
        let key = by.sql();
        let mut stmt = conn.prepare(&format!(
            "SELECT {key} AS k, count(*), sum(outcome = 'denied'), COALESCE(sum(fuel), 0),
                    sum(cpu_ns), sum(wall_ns), sum(net_bytes_in + net_bytes_out),
                    sum(stdout_bytes + stderr_bytes), sum(cost), sum(charged)
             FROM usage {filter_sql} GROUP BY k ORDER BY k"
        ))?;
        let lines = stmt
            .query_map(rusqlite::params![account, since], |r| {
                Ok(ReportLine {
                    key: r.get(0)?,
                    casts: r.get(1)?,
                    denied: r.get(2)?,
                    fuel: r.get(3)?,
                    cpu_ns: r.get(4)?,
                    wall_ns: r.get(5)?,
                    net_bytes: r.get(6)?,
                    output_bytes: r.get(7)?,
                    cost: r.get(8)?,
                    charged: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(lines)
    }

    /// Every row `filter` selects as a rated usage line, in chain order.
    pub fn export(&self, filter: &Filter) -> Result<Vec<RatedUsage>, LedgerError> {
        let conn = self.read()?;
        let (filter_sql, account, since) = filter.sql();
        let mut stmt = conn.prepare(&format!(
            "SELECT seq, cast_id, account, spell_name, spell_digest, outcome, started_at_ms,
                    COALESCE(fuel, 0), cpu_ns, wall_ns, memory_peak_bytes,
                    net_bytes_in + net_bytes_out, stdout_bytes + stderr_bytes, price_version,
                    cost, charged, hash, trace_id
             FROM usage {filter_sql} ORDER BY seq"
        ))?;
        let lines = stmt
            .query_map(rusqlite::params![account, since], |r| {
                Ok(RatedUsage {
                    seq: r.get(0)?,
                    cast_id: r.get(1)?,
                    account: r.get(2)?,
                    spell_name: r.get(3)?,
                    spell_digest: r.get(4)?,
                    outcome: r.get(5)?,
                    started_at_ms: r.get(6)?,
                    fuel: r.get(7)?,
                    cpu_ns: r.get(8)?,
                    wall_ns: r.get(9)?,
                    memory_peak_bytes: r.get(10)?,
                    net_bytes: r.get(11)?,
                    output_bytes: r.get(12)?,
                    price_version: r.get(13)?,
                    cost: r.get(14)?,
                    charged: r.get(15)?,
                    hash: r.get(16)?,
                    trace_id: r.get(17)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(lines)
    }
}
