//! Usage rows and their hash chain.
//!
//! Each row's hash is the sha256 of the previous row's hash and the row's canonical JSON (its
//! fields in declaration order, exactly as stored), so changing, removing or inserting any row
//! breaks every hash after it. The first row's predecessor is [`GENESIS`].
//!
//! A field added after version 1 (`trace_id`) is left out of the JSON while it is empty, so a
//! row written before it existed hashes as it did then, and one written since is covered by it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The predecessor hash of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One usage row as stored (SQLite integers are `i64`; larger values saturate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Row {
    pub(crate) seq: i64,
    pub(crate) cast_id: String,
    pub(crate) account: String,
    pub(crate) spell_digest: String,
    pub(crate) spell_name: String,
    pub(crate) outcome: String,
    pub(crate) exit_code: Option<i64>,
    pub(crate) fuel: Option<i64>,
    pub(crate) wall_ns: i64,
    pub(crate) cpu_ns: i64,
    pub(crate) memory_peak_bytes: i64,
    pub(crate) stdout_bytes: i64,
    pub(crate) stderr_bytes: i64,
    pub(crate) net_requests: i64,
    pub(crate) net_bytes_in: i64,
    pub(crate) net_bytes_out: i64,
    pub(crate) disk_bytes_written: i64,
    pub(crate) started_at_ms: i64,
    pub(crate) recorded_at_ms: i64,
    pub(crate) price_version: String,
    pub(crate) cost: i64,
    pub(crate) charged: i64,
    pub(crate) prev_hash: String,
    /// The W3C trace the cast joined (schema version 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace_id: Option<String>,
}

/// The columns of a row, in [`Row`] order, then `hash`.
pub(crate) const COLUMNS: &str = "seq, cast_id, account, spell_digest, spell_name, outcome, \
    exit_code, fuel, wall_ns, cpu_ns, memory_peak_bytes, stdout_bytes, stderr_bytes, \
    net_requests, net_bytes_in, net_bytes_out, disk_bytes_written, started_at_ms, \
    recorded_at_ms, price_version, cost, charged, prev_hash, trace_id, hash";

impl Row {
    /// The row's hash: sha256 over the previous hash and the canonical JSON of the row.
    pub(crate) fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }

    /// Reads a row selected with [`COLUMNS`]; the stored hash is returned beside it.
    pub(crate) fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Row, String)> {
        Ok((
            Row {
                seq: r.get(0)?,
                cast_id: r.get(1)?,
                account: r.get(2)?,
                spell_digest: r.get(3)?,
                spell_name: r.get(4)?,
                outcome: r.get(5)?,
                exit_code: r.get(6)?,
                fuel: r.get(7)?,
                wall_ns: r.get(8)?,
                cpu_ns: r.get(9)?,
                memory_peak_bytes: r.get(10)?,
                stdout_bytes: r.get(11)?,
                stderr_bytes: r.get(12)?,
                net_requests: r.get(13)?,
                net_bytes_in: r.get(14)?,
                net_bytes_out: r.get(15)?,
                disk_bytes_written: r.get(16)?,
                started_at_ms: r.get(17)?,
                recorded_at_ms: r.get(18)?,
                price_version: r.get(19)?,
                cost: r.get(20)?,
                charged: r.get(21)?,
                prev_hash: r.get(22)?,
                trace_id: r.get(23)?,
            },
            r.get(24)?,
        ))
    }

    /// Inserts the row with its hash.
    pub(crate) fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        hash: &str,
    ) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO usage ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
              ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
        ))?;
        stmt.execute(rusqlite::params![
            self.seq,
            self.cast_id,
            self.account,
            self.spell_digest,
            self.spell_name,
            self.outcome,
            self.exit_code,
            self.fuel,
            self.wall_ns,
            self.cpu_ns,
            self.memory_peak_bytes,
            self.stdout_bytes,
            self.stderr_bytes,
            self.net_requests,
            self.net_bytes_in,
            self.net_bytes_out,
            self.disk_bytes_written,
            self.started_at_ms,
            self.recorded_at_ms,
            self.price_version,
            self.cost,
            self.charged,
            self.prev_hash,
            self.trace_id,
            hash,
        ])?;
        Ok(())
    }
}

/// `u64` as stored: saturating at `i64::MAX`.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(trace_id: Option<&str>) -> Row {
        Row {
            seq: 1,
            cast_id: "c1".into(),
            account: "acme".into(),
            spell_digest: "ab".repeat(32),
            spell_name: "t".into(),
            outcome: "ok".into(),
            exit_code: None,
            fuel: Some(1200),
            wall_ns: 5000,
            cpu_ns: 4000,
            memory_peak_bytes: 65536,
            stdout_bytes: 0,
            stderr_bytes: 0,
            net_requests: 0,
            net_bytes_in: 0,
            net_bytes_out: 0,
            disk_bytes_written: 0,
            started_at_ms: 1_700_000_000_000,
            recorded_at_ms: 1_700_000_000_001,
            price_version: "v1".into(),
            cost: 10,
            charged: 10,
            prev_hash: GENESIS.into(),
            trace_id: trace_id.map(str::to_string),
        }
    }

    // The expected hashes are sha256 over the row's JSON written out by hand (Python's
    // `json.dumps(row, separators=(",", ":"))`), not by this code.
    #[test]
    fn a_row_without_a_trace_hashes_as_schema_version_1_did() {
        assert_eq!(
            row(None).hash(),
            "e0851a937fe4b3e502de8006a2efa14d28d2d3633825bea9d92f0b93e52dc32f"
        );
    }

    #[test]
    fn a_rows_trace_id_is_covered_by_its_hash() {
        assert_eq!(
            row(Some("4bf92f3577b34da6a3ce929d0e0e4736")).hash(),
            "c7c34c23e6fbb901c5a0b6fc88fab19d835c4f26f0f99e8c72e7768202df424b"
        );
    }
}
