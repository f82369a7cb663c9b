//! `spell ledger …`: the usage ledger (spell-ledger) from the command line.
//!
//! - `account set DB ID --budget N [--period prepaid|day|month]`, `account show DB [ID] [--json]`
//! - `prices DB PRICES.toml`: makes a price list current
//! - `verify DB [--head HEAD]`: recomputes the chain (and checks it still holds a saved head)
//! - `head DB [--sign KEY -o HEAD]`: prints the head; with `--sign`, writes it to HEAD and a
//!   Sigstore bundle over it to HEAD.sigstore.json (check it with `spell verify-blob`)
//! - `report DB [--account A] [--by spell|account|day|trace] [--since T] [--json|--csv]`
//! - `export DB [--account A] [--since T] [--csv]`: rated usage lines (with the W3C trace id of
//!   casts that joined one), JSON lines by default
//! - `ingest DB --nats URL [--durable NAME] [--idle-exit SECS]`: the single ledger writer of
//!   service mode, applying each entry of the usage stream once

use super::nats::{NatsArgs, block_on, shutdown_signal};
use crate::report::Coded;
use anyhow::Context;
use spell_ledger::{
    Budget, Filter, GroupBy, Head, Ledger, Period, PriceList, RatedUsage, ReportLine,
};
use spell_verify::SigningKey;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// `spell ledger` subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Add an account, change its budget, or show accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Make a price list (TOML, see examples/prices.toml) the current one.
    Prices {
        /// The ledger database.
        db: PathBuf,
        /// The price list.
        prices: PathBuf,
    },
    /// Recompute the hash chain; exit 1 naming the first broken row.
    Verify {
        /// The ledger database.
        db: PathBuf,
        /// A head saved by `spell ledger head` that the ledger must still contain.
        #[arg(long)]
        head: Option<PathBuf>,
    },
    /// Print the head of the chain (`SEQ HASH`).
    Head {
        /// The ledger database.
        db: PathBuf,
        /// Sign the head with a key from `spell keygen`.
        #[arg(long, requires = "output")]
        sign: Option<PathBuf>,
        /// Write the head here (and the bundle to OUTPUT.sigstore.json).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Sums by spell, account, day or W3C trace (`-`: casts outside a trace).
    Report {
        /// The ledger database.
        db: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// What to group by.
        #[arg(long, default_value = "account", value_parser = ["spell", "account", "day", "trace"])]
        by: String,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Rated usage lines for a billing system: JSON lines, or CSV.
    Export {
        /// The ledger database.
        db: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Service mode's ledger writer: applies every entry of the usage stream to the ledger
    /// once (a cast and each failed attempt are rows of their own, billed to the tenant's
    /// account), acknowledging each after it is written. Runs until SIGTERM or Ctrl-C.
    Ingest {
        /// The ledger database (with a price list).
        db: PathBuf,
        #[command(flatten)]
        nats: NatsArgs,
        /// The durable consumer that keeps this writer's place in the stream.
        #[arg(long, default_value = "spell-ledger")]
        durable: String,
        /// Exit once no entry has arrived for this many seconds (for batch runs).
        #[arg(long, value_name = "SECS")]
        idle_exit: Option<u64>,
    },
}

/// `spell ledger account` subcommands.
#[derive(clap::Subcommand)]
pub enum AccountCommand {
    /// Add an account or change its budget.
    Set {
        /// The ledger database (created if missing).
        db: PathBuf,
        /// The account id.
        id: String,
        /// Micro-units per period, or the prepaid balance.
        #[arg(long)]
        budget: i64,
        /// How often the budget renews.
        #[arg(long, default_value = "month", value_parser = ["prepaid", "day", "month"])]
        period: String,
    },
    /// Show one account or all.
    Show {
        /// The ledger database.
        db: PathBuf,
        /// The account id.
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which rows a report or export covers.
#[derive(clap::Args)]
pub struct FilterArgs {
    /// Only this account.
    #[arg(long)]
    account: Option<String>,
    /// Only casts started at or after this time: RFC 3339 (2026-01-31T00:00:00Z) or a date.
    #[arg(long)]
    since: Option<String>,
}

impl FilterArgs {
    fn filter(self) -> anyhow::Result<Filter> {
        let since_ms = self
            .since
            .map(|s| {
                s.parse::<jiff::Timestamp>()
                    .or_else(|_| {
                        s.parse::<jiff::civil::Date>()
                            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
                            .map(|z| z.timestamp())
                    })
                    .map(|t| t.as_millisecond())
                    .with_context(|| format!("--since `{s}`: expected RFC 3339 or YYYY-MM-DD"))
            })
            .transpose()?;
        Ok(Filter {
            account: self.account,
            since_ms,
        })
    }
}

fn open(db: &PathBuf) -> anyhow::Result<Ledger> {
    Ledger::open(db)
        .map_err(Coded::from)
        .with_context(|| format!("opening {}", db.display()))
}

pub fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Account(AccountCommand::Set {
            db,
            id,
            budget,
            period,
        }) => {
            let period = Period::parse(&period).context("unknown period")?;
            open(&db)?
                .set_account(
                    &id,
                    Budget {
                        amount: budget,
                        period,
                    },
                )
                .map_err(Coded::from)?;
            println!("account {id}: {budget} micro-units per {}", period.as_str());
        }
        Command::Account(AccountCommand::Show { db, id, json }) => {
            let ledger = open(&db)?;
            let accounts = match id {
                Some(id) => vec![ledger.account(&id).map_err(Coded::from)?],
                None => ledger.accounts().map_err(Coded::from)?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&accounts)?);
            } else {
                for a in accounts {
                    println!(
                        "{}: budget {} per {}, spent {}, reserved {}, available {}",
                        a.id,
                        a.budget,
                        a.period.as_str(),
                        a.spent,
                        a.reserved,
                        a.available
                    );
                }
            }
        }
        Command::Prices { db, prices } => {
            let text = std::fs::read_to_string(&prices)
                .with_context(|| format!("reading {}", prices.display()))?;
            let list = PriceList::from_toml(&text).map_err(Coded::from)?;
            open(&db)?.set_prices(&list).map_err(Coded::from)?;
            println!("prices {} are current", list.version);
        }
        Command::Verify { db, head } => {
            let ledger = open(&db)?;
            let released = ledger.released_reservations();
            let now = match head {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let saved: Head = text.parse().map_err(Coded::from)?;
                    ledger.verify_head(&saved).map_err(Coded::from)?
                }
                None => ledger.verify().map_err(Coded::from)?,
            };
            println!("ledger OK: {} rows, head {}", now.seq, now.hash);
            if released > 0 {
                println!("released {released} reservations of ended processes");
            }
        }
        Command::Head { db, sign, output } => {
            let head = open(&db)?.head().map_err(Coded::from)?;
            let text = format!("{head}\n");
            match output {
                Some(out) => {
                    std::fs::write(&out, &text)
                        .with_context(|| format!("writing {}", out.display()))?;
                    if let Some(key) = sign {
                        let pem = std::fs::read_to_string(&key)
                            .with_context(|| format!("reading {}", key.display()))?;
                        let key = SigningKey::from_pem(&pem).map_err(Coded::from)?;
                        let bundle = key
                            .sign(text.as_bytes(), SystemTime::now())
                            .map_err(Coded::from)?;
                        let mut path = out.into_os_string();
                        path.push(".sigstore.json");
                        std::fs::write(&path, bundle).context("writing the bundle")?;
                    }
                }
                None => print!("{text}"),
            }
        }
        Command::Report {
            db,
            filter,
            by,
            json,
            csv,
        } => {
            let by = match by.as_str() {
                "spell" => GroupBy::Spell,
                "day" => GroupBy::Day,
                "trace" => GroupBy::Trace,
                _ => GroupBy::Account,
            };
            let lines = open(&db)?
                .report(by, &filter.filter()?)
                .map_err(Coded::from)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lines)?);
            } else if csv {
                println!("{}", ReportLine::CSV_HEADER);
                lines.iter().for_each(|l| println!("{}", l.csv()));
            } else {
                // Wide enough for a trace id (32 hex digits).
                println!(
                    "{:<32} {:>8} {:>8} {:>16} {:>14}",
                    "key", "casts", "denied", "fuel", "charged"
                );
                for l in lines {
                    println!(
                        "{:<32} {:>8} {:>8} {:>16} {:>14}",
                        l.key, l.casts, l.denied, l.fuel, l.charged
                    );
                }
            }
        }
        Command::Export { db, filter, csv } => {
            let lines = open(&db)?.export(&filter.filter()?).map_err(Coded::from)?;
            if csv {
                println!("{}", RatedUsage::CSV_HEADER);
                lines.iter().for_each(|l| println!("{}", l.csv()));
            } else {
                for l in lines {
                    println!("{}", serde_json::to_string(&l)?);
                }
            }
        }
        Command::Ingest {
            db,
            nats,
            durable,
            idle_exit,
        } => {
            let ledger = open(&db)?;
            let (applied, duplicates) = block_on(ingest(
                &ledger,
                &nats,
                &durable,
                idle_exit.map(Duration::from_secs),
            ))?;
            println!("applied {applied} usage entries ({duplicates} already in the ledger)");
        }
    }
    Ok(0)
}

/// Applies usage entries until a signal (or `idle_exit` without one); returns how many were
/// new and how many the ledger already held.
async fn ingest(
    ledger: &Ledger,
    nats: &NatsArgs,
    durable: &str,
    idle_exit: Option<Duration>,
) -> anyhow::Result<(u64, u64)> {
    let stop = shutdown_signal();
    let client = spell_service::Client::connect(&nats.options())
        .await
        .map_err(Coded::from)?;
    let mut feed = client.usage_feed(durable).await.map_err(Coded::from)?;
    let (mut applied, mut duplicates) = (0, 0);
    let mut idle = Duration::ZERO;
    let poll = Duration::from_secs(1);
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            _ = &mut stop => break,
            next = feed.next(poll) => next.map_err(Coded::from)?,
        };
        let Some(delivery) = next else {
            idle += poll;
            if idle_exit.is_some_and(|limit| idle >= limit) {
                break;
            }
            continue;
        };
        idle = Duration::ZERO;
        let entry = &delivery.entry;
        // Written before the ack: a writer stopped in between gets the entry again, and the
        // ledger takes it as the duplicate it is.
        let recorded =
            tokio::task::block_in_place(|| ledger.record(&entry.tenant, &entry.billing_record()))
                .map_err(Coded::from)?;
        if recorded.duplicate {
            duplicates += 1;
        } else {
            applied += 1;
        }
        delivery.ack().await.map_err(Coded::from)?;
    }
    Ok((applied, duplicates))
}
