//! W3C trace context (`traceparent`, `tracestate`): a cast joins its caller's trace, and the
//! outbound requests it makes carry a child `traceparent` with the same trace id and a span id
//! of their own, so a tracing backend shows the cast and the calls it made under the caller.
//!
//! Only version `00` is produced; a later version is read as `00` (the spec's forward
//! compatibility rule: the first four fields keep their meaning).

use std::fmt::Write;

/// The longest `tracestate` forwarded: the spec's 32 members of at most 256 bytes each,
/// rounded; a longer one is refused with the request rather than cut mid-member.
const MAX_TRACESTATE_BYTES: usize = 8192;

/// A parsed trace context: the trace a cast joins and the caller's span it descends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceContext {
    /// 32 lowercase hex digits, never all zero.
    pub(crate) trace_id: String,
    /// The caller's span, 16 lowercase hex digits.
    pub(crate) parent_id: String,
    /// Trace flags (bit 0: sampled), passed on unchanged.
    flags: u8,
    /// The caller's vendor data, passed on unchanged.
    state: Option<String>,
}

impl TraceContext {
    /// Parses a `traceparent` (and the `tracestate` that came with it).
    pub(crate) fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, String> {
        let bad =
            || format!("`{traceparent}` is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
        let mut parts = traceparent.trim().split('-');
        let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let hex = |s: &str, n: usize| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        // Version ff is invalid; version 00 has exactly four fields.
        if !hex(version, 2)
            || version == "ff"
            || (version == "00" && parts.next().is_some())
            || !hex(trace_id, 32)
            || zero(trace_id)
            || !hex(parent_id, 16)
            || zero(parent_id)
            || !hex(flags, 2)
        {
            return Err(bad());
        }
        if let Some(s) = tracestate
            && (s.len() > MAX_TRACESTATE_BYTES || !s.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return Err(format!(
                "tracestate must be at most {MAX_TRACESTATE_BYTES} printable ASCII bytes"
            ));
        }
        Ok(TraceContext {
            trace_id: trace_id.to_string(),
            parent_id: parent_id.to_string(),
            flags: u8::from_str_radix(flags, 16).map_err(|_| bad())?,
            state: tracestate.filter(|s| !s.is_empty()).map(str::to_string),
        })
    }

    /// The `traceparent` of a child span `span_id` in this trace.
    pub(crate) fn child(&self, span_id: &str) -> String {
        let mut s = String::with_capacity(55);
        let _ = write!(s, "00-{}-{span_id}-{:02x}", self.trace_id, self.flags);
        s
    }

    /// The caller's `tracestate`, to pass on with [`TraceContext::child`].
    pub(crate) fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }
}

/// A new span id: 16 hex digits, never all zero.
pub(crate) fn span_id() -> String {
    format!("{:016x}", rand::random::<u64>().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_parses_and_makes_children_in_its_trace() {
        let t = TraceContext::parse(TP, Some("congo=t61rcWkgMzE")).expect("valid");
        assert_eq!(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(t.parent_id, "b7ad6b7169203331");
        assert_eq!(t.state(), Some("congo=t61rcWkgMzE"));
        let span = span_id();
        assert_eq!(
            t.child(&span),
            format!("00-0af7651916cd43dd8448eb211c80319c-{span}-01")
        );
        // A later version may add fields; its first four are read as version 00's.
        assert!(TraceContext::parse(&format!("cc{}-extra", &TP[2..]), None).is_ok());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-xyz",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        ] {
            assert!(TraceContext::parse(bad, None).is_err(), "{bad}");
        }
        assert!(TraceContext::parse(TP, Some("a=\n")).is_err());
    }
}
