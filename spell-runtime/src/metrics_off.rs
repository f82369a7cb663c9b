//! Without the `metrics` feature a runtime keeps no metrics: these types cannot be constructed,
//! so every `Option` of them is `None` and the calls on them compile to nothing.

use crate::metering::UsageRecord;
use spell_core::ErrorCode;
use std::time::Duration;

pub(crate) enum Metrics {}

pub(crate) enum SpellMetrics {}

pub(crate) enum InFlight {}

impl Metrics {
    pub(crate) fn spell(&self, _: &str, _: &str) -> SpellMetrics {
        match *self {}
    }

    pub(crate) fn refused(&self, _: &'static str, _: ErrorCode) {
        match *self {}
    }

    pub(crate) fn started(&self, _: Duration) -> InFlight {
        match *self {}
    }

    pub(crate) fn ended(&self, _: &SpellMetrics, _: &UsageRecord) {
        match *self {}
    }
}
