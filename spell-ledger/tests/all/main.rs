//! spell-ledger integration tests: real casts on wasmtime against a real SQLite file.

mod budget;
mod crash;
mod migrate;
mod tamper;
mod trace;

use spell_core::{Package, Policy};
use spell_ledger::{Budget, Ledger, Period, PriceList};
use spell_runtime::{Runtime, Spell};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh ledger in a temp dir, with `prices` (TOML lines) and one account.
pub fn ledger(prices: &str, account: &str, budget: i64) -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(&path).expect("open");
    ledger
        .set_prices(&PriceList::from_toml(&format!("version = \"v1\"\n{prices}")).expect("prices"))
        .expect("set prices");
    ledger
        .set_account(
            account,
            Budget {
                amount: budget,
                period: Period::Prepaid,
            },
        )
        .expect("account");
    (dir, path, ledger)
}

/// Runs `sql` on the ledger file with the sqlite3 CLI, around the ledger's own code.
pub fn sqlite3(db: &Path, sql: &str) -> std::process::Output {
    Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 CLI (scripts/install-deps.sh installs it)")
}

/// A spell from WAT whose entrypoint is `run`.
pub fn spell(runtime: &Runtime, wat: &str, limits: &str) -> Spell {
    let wasm = wat::parse_str(wat).expect("wat");
    let manifest = format!(
        r#"{{"name":"t","version":"1.0.0","license":"MIT","entrypoint":"run","limits":{{{limits}}}}}"#
    );
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    let pkg = Package::pack(manifest.as_bytes(), &wasm, None, None).expect("pack");
    runtime.load(&pkg, &policy).expect("load")
}

/// Spins until fuel or time runs out.
pub const SPIN: &str = r#"(module (func (export "run") (loop br 0)))"#;
/// Returns at once.
pub const NOOP: &str = r#"(module (func (export "run")))"#;
