//! Price lists and rating: what a usage record costs, in integer micro-units of a currency.
//!
//! Every component is rated separately and rounded *up* to the next micro-unit (a cast is never
//! billed less than it used), then the components are added. Arithmetic is in `u128`; a result
//! that does not fit saturates at `i64::MAX`. A `denied` cast costs nothing: nothing ran.

use crate::LedgerError;
use serde::{Deserialize, Serialize};
use spell_core::EffectiveLimits;
use spell_runtime::{Outcome, UsageRecord};

const MILLION: u128 = 1_000_000;
const NS_PER_S: u128 = 1_000_000_000;
const GIB: u128 = 1 << 30;

/// A price list, read from TOML (see `examples/prices.toml`). Every price is in micro-units of
/// `currency`; a price left out is 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    /// Names this list; stored with every row it rated. A version, once stored, never changes.
    pub version: String,
    /// The currency (e.g. `USD`); informative.
    #[serde(default)]
    pub currency: String,
    /// Per cast that ran (denied casts are free).
    #[serde(default)]
    pub per_cast: u64,
    /// Per million units of fuel.
    #[serde(default)]
    pub per_million_fuel: u64,
    /// Per CPU-second.
    #[serde(default)]
    pub per_cpu_second: u64,
    /// Per GiB-second of peak memory (peak bytes times wall time).
    #[serde(default)]
    pub per_gib_second: u64,
    /// Per million network bytes, in plus out.
    #[serde(default)]
    pub per_net_mb: u64,
    /// Per million output bytes, stdout plus stderr.
    #[serde(default)]
    pub per_output_mb: u64,
}

/// The quantities a cast is rated on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quantities {
    pub(crate) fuel: u64,
    pub(crate) cpu_ns: u64,
    pub(crate) wall_ns: u64,
    pub(crate) memory_peak_bytes: u64,
    pub(crate) net_bytes: u64,
    pub(crate) output_bytes: u64,
}

impl From<&UsageRecord> for Quantities {
    fn from(u: &UsageRecord) -> Quantities {
        Quantities {
            fuel: u.fuel.unwrap_or(0),
            cpu_ns: u.cpu_ns,
            wall_ns: u.wall_ns,
            memory_peak_bytes: u.memory_peak_bytes,
            net_bytes: u.net_bytes_in.saturating_add(u.net_bytes_out),
            output_bytes: u.stdout_bytes.saturating_add(u.stderr_bytes),
        }
    }
}

/// `ceil(quantity * price / unit)`, saturating.
fn rate(quantity: u128, price: u64, unit: u128) -> u128 {
    quantity.saturating_mul(u128::from(price)).div_ceil(unit)
}

fn to_i64(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PriceList {
    /// Parses a price list from TOML.
    ///
    /// ```
    /// let prices = spell_ledger::PriceList::from_toml(r#"
    ///     version = "2026-01"
    ///     currency = "USD"
    ///     per_cast = 100            # 0.0001 USD
    ///     per_million_fuel = 20
    /// "#)?;
    /// assert_eq!(prices.per_cast, 100);
    /// # Ok::<(), spell_ledger::LedgerError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<PriceList, LedgerError> {
        let prices: PriceList =
            toml::from_str(text).map_err(|e| LedgerError::Prices(e.message().to_string()))?;
        if prices.version.trim().is_empty() || prices.version.len() > 128 {
            return Err(LedgerError::Prices(
                "`version` must be 1 to 128 characters".into(),
            ));
        }
        Ok(prices)
    }

    /// What a usage record costs, in micro-units.
    pub fn cost(&self, usage: &UsageRecord) -> i64 {
        if usage.outcome == Outcome::Denied {
            return 0;
        }
        to_i64(u128::from(self.per_cast) + self.fixed(&usage.into()) + self.variable(&usage.into()))
    }

    /// The components that no allowance can lower: network and output bytes.
    fn fixed(&self, q: &Quantities) -> u128 {
        rate(q.net_bytes.into(), self.per_net_mb, MILLION)
            + rate(q.output_bytes.into(), self.per_output_mb, MILLION)
    }

    /// The components an allowance lowers: fuel, and time (CPU time is at most wall time).
    fn variable(&self, q: &Quantities) -> u128 {
        rate(q.fuel.into(), self.per_million_fuel, MILLION)
            + rate(q.cpu_ns.into(), self.per_cpu_second, NS_PER_S)
            + rate(
                u128::from(q.memory_peak_bytes).saturating_mul(q.wall_ns.into()),
                self.per_gib_second,
                GIB * NS_PER_S,
            )
    }

    /// How many variable components have a price (each rounds up by less than one micro-unit).
    fn priced_variable(&self) -> u128 {
        [
            self.per_million_fuel,
            self.per_cpu_second,
            self.per_gib_second,
        ]
        .iter()
        .filter(|p| **p > 0)
        .count() as u128
    }

    /// The most a cast can cost when it uses `fuel` and `wall_ms` and everything else up to
    /// `limits`.
    fn worst_case(&self, limits: &EffectiveLimits, fuel: u64, wall_ms: u64) -> (u128, u128) {
        let wall_ns = wall_ms.saturating_mul(1_000_000);
        let q = Quantities {
            fuel,
            cpu_ns: wall_ns,
            wall_ns,
            memory_peak_bytes: limits.memory_bytes,
            net_bytes: limits.net_bytes,
            output_bytes: limits.output_bytes,
        };
        (
            u128::from(self.per_cast) + self.fixed(&q),
            self.variable(&q),
        )
    }

    /// The least an account must have for a cast under `limits` to be allowed at all: the fixed
    /// part at its limits, plus one micro-unit per priced variable component.
    pub(crate) fn minimum(&self, limits: &EffectiveLimits) -> i64 {
        let (fixed, _) = self.worst_case(limits, 0, 0);
        to_i64(fixed + self.priced_variable())
    }

    /// Sizes a cast's allowance to what `available` micro-units can pay.
    ///
    /// When the worst case under `limits` fits, the whole worst case is reserved and the limits
    /// stand. Otherwise the fuel and wall-time limits are scaled down together by the share of
    /// the variable part that is left after the fixed part (per cast, network and output at
    /// their limits); the slack of one micro-unit per further priced component keeps the
    /// rounded-up cost within `available`. `None` when not even that can be paid.
    pub(crate) fn size(&self, limits: &EffectiveLimits, available: i64) -> Option<Sized> {
        let available = u128::try_from(available).ok()?;
        let (fixed, variable) = self.worst_case(limits, limits.fuel, limits.wall_time_ms);
        if fixed + variable <= available {
            return Some(Sized {
                reserve: to_i64(fixed + variable),
                max_fuel: None,
                max_wall_time_ms: None,
            });
        }
        let slack = self.priced_variable().saturating_sub(1);
        let left = available.checked_sub(fixed)?.checked_sub(slack)?;
        let scale = |limit: u64| u64::try_from(u128::from(limit) * left / variable).ok();
        let fuel = scale(limits.fuel)?;
        let wall_ms = scale(limits.wall_time_ms)?;
        let fuel_capped = self.per_million_fuel > 0;
        let time_capped = self.per_cpu_second > 0 || self.per_gib_second > 0;
        if (fuel_capped && fuel == 0) || (time_capped && wall_ms == 0) {
            return None;
        }
        let (fixed, variable) = self.worst_case(limits, fuel, wall_ms);
        Some(Sized {
            reserve: to_i64(fixed + variable),
            max_fuel: fuel_capped.then_some(fuel),
            max_wall_time_ms: time_capped.then_some(wall_ms),
        })
    }
}

/// A reservation and the allowance it pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sized {
    pub(crate) reserve: i64,
    pub(crate) max_fuel: Option<u64>,
    pub(crate) max_wall_time_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(fuel: u64, wall_ms: u64) -> EffectiveLimits {
        EffectiveLimits {
            memory_bytes: 1 << 30,
            fuel,
            wall_time_ms: wall_ms,
            output_bytes: 0,
            net_requests: 0,
            net_bytes: 0,
            open_files: 0,
            disk_write_bytes: 0,
        }
    }

    fn prices(toml: &str) -> PriceList {
        PriceList::from_toml(&format!("version = \"t\"\n{toml}")).expect("prices")
    }

    #[test]
    fn components_round_up_separately() {
        let p = prices("per_cast = 1\nper_million_fuel = 1\nper_cpu_second = 1");
        let mut usage = UsageRecord {
            cast_id: "c".into(),
            fuel: Some(1),
            wall_ns: 1,
            cpu_ns: 1,
            ..UsageRecord::default()
        };
        assert_eq!(p.cost(&usage), 3);
        usage.outcome = Outcome::Denied;
        assert_eq!(p.cost(&usage), 0);
    }

    #[test]
    fn allowance_is_exact_with_one_priced_component() {
        let p = prices("per_million_fuel = 1000000");
        let s = p.size(&limits(1_000_000, 1000), 1234).expect("sized");
        assert_eq!(s.max_fuel, Some(1234));
        assert_eq!(s.max_wall_time_ms, None);
        assert_eq!(s.reserve, 1234);
    }

    #[test]
    fn allowance_never_exceeds_what_is_available() {
        let p = prices(
            "per_cast = 7\nper_million_fuel = 3333\nper_cpu_second = 999\nper_gib_second = 17",
        );
        for available in [8, 10, 100, 1_000, 12_345, 99_999] {
            if let Some(s) = p.size(&limits(10_000_000_000, 30_000), available) {
                assert!(s.reserve <= available, "{available}: {s:?}");
            }
        }
        assert_eq!(p.size(&limits(10_000_000_000, 30_000), 7), None);
        assert_eq!(p.size(&limits(10, 10), -1), None);
    }

    #[test]
    fn unknown_fields_and_empty_versions_are_refused() {
        assert!(PriceList::from_toml("version = \"v\"\nper_castt = 1").is_err());
        assert!(PriceList::from_toml("version = \"\"").is_err());
        assert!(PriceList::from_toml("per_cast = -1\nversion = \"v\"").is_err());
    }
}
