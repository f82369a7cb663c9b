//! Capabilities: what a spell asks for (manifest) and a host grants (policy).
//!
//! - [`Capabilities`]: environment variable names, directory mounts, network hosts and host
//!   functions. The same type appears in the manifest (requested) and the policy (allowed), where
//!   names may end in `*` to grant a prefix.
//! - [`HostPattern`]: `scheme://host[:port]`, host exact or `*.example.com`, port a number, `*`
//!   for any, or absent for the scheme's default.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Capabilities asked for (manifest) or allowed (policy). Everything defaults to none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Environment variable names. In a policy a name may end in `*` (`APP_*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Directories the guest sees, by guest path and access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Outbound network destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<HostPattern>,
    /// Host functions as `module::name`. In a policy, `module::*` grants a whole module.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_functions: Vec<String>,
}

/// A directory the guest sees at `guest`. The host decides which host directory backs it at cast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Absolute guest path, e.g. `/data`.
    pub guest: String,
    /// Read-only unless `rw`.
    #[serde(default)]
    pub access: Access,
}

/// Access to a mounted directory.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read-only (the default).
    #[default]
    Ro,
    /// Read and write.
    Rw,
}

/// A port in a [`HostPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// The scheme's default port (443 for https, 80 for http).
    Default,
    /// Exactly this port.
    Number(u16),
    /// Any port (`:*`), only meaningful in a policy.
    Any,
}

/// A network destination pattern: `https://api.example.com`, `http://127.0.0.1:8080`,
/// `https://*.example.com:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// `http` or `https`.
    pub scheme: String,
    /// Lowercase host name or IP literal, or `*.suffix`.
    pub host: String,
    /// The port.
    pub port: Port,
}

/// Why a host pattern did not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid host pattern `{pattern}`: {reason}")]
pub struct HostPatternError {
    /// The text that was given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl HostPattern {
    /// The concrete port this pattern stands for, if it names one.
    pub fn effective_port(&self) -> Option<u16> {
        match self.port {
            Port::Number(p) => Some(p),
            Port::Default => default_port(&self.scheme),
            Port::Any => None,
        }
    }

    /// Whether this (allowing) pattern covers `other` (a requested pattern, or a concrete URL's
    /// scheme, host and port).
    pub fn covers(&self, other: &HostPattern) -> bool {
        let port_ok = match (self.port, other.port) {
            (Port::Any, _) => true,
            (_, Port::Any) => false,
            _ => self.effective_port() == other.effective_port(),
        };
        self.scheme == other.scheme && port_ok && host_covers(&self.host, &other.host)
    }

    /// Whether this pattern allows a request to `scheme://host:port`.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.covers(&HostPattern {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port: Port::Number(port),
        })
    }
}

/// The default port of `http` and `https`.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn host_covers(allowed: &str, requested: &str) -> bool {
    match (allowed.strip_prefix("*."), requested.strip_prefix("*.")) {
        (None, _) => allowed == requested,
        (Some(suffix), Some(req_suffix)) => {
            req_suffix == suffix || req_suffix.ends_with(&format!(".{suffix}"))
        }
        (Some(suffix), None) => requested.ends_with(&format!(".{suffix}")),
    }
}

impl FromStr for HostPattern {
    type Err = HostPatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| HostPatternError {
            pattern: s.to_string(),
            reason,
        };
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| err("expected scheme://host"))?;
        let scheme = scheme.to_ascii_lowercase();
        if default_port(&scheme).is_none() {
            return Err(err("scheme must be http or https"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(err("a host pattern has no path, query or user"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed IPv6 bracket"))?;
            (format!("[{h}]"), tail.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        let port = match port {
            None => Port::Default,
            Some("*") => Port::Any,
            Some(p) => Port::Number(p.parse().map_err(|_| err("port must be 1-65535 or *"))?),
        };
        if port == Port::Number(0) {
            return Err(err("port must be 1-65535 or *"));
        }
        let host = host.to_ascii_lowercase();
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        let valid = !bare.is_empty()
            && !bare.contains('*')
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
        if !valid {
            return Err(err("host must be a name, an IP literal or *.suffix"));
        }
        Ok(HostPattern { scheme, host, port })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Port::Default => Ok(()),
            Port::Number(p) => write!(f, ":{p}"),
            Port::Any => f.write_str(":*"),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HostPattern {
    fn schema_name() -> String {
        "HostPattern".into()
    }
    fn json_schema(g: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        String::json_schema(g)
    }
}

/// Whether a policy name pattern (`NAME`, or `PREFIX*`) matches `name`.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().expect(s)
    }

    #[test]
    fn host_patterns_parse_and_print() {
        assert_eq!(
            p("https://API.example.com").to_string(),
            "https://api.example.com"
        );
        assert_eq!(p("http://127.0.0.1:8080/").port, Port::Number(8080));
        assert_eq!(p("https://*.example.com:*").port, Port::Any);
        assert_eq!(p("http://[::1]:80").host, "[::1]");
        for bad in [
            "example.com",
            "ftp://x",
            "https://x/path",
            "https://a*b.com",
            "https://x:0",
            "https://x:99999",
            "https://",
            "https://u@x",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage_follows_scheme_host_and_port() {
        assert!(p("https://*.example.com").covers(&p("https://api.example.com:443")));
        assert!(p("https://*.example.com").covers(&p("https://*.eu.example.com")));
        assert!(!p("https://*.example.com").covers(&p("https://example.com")));
        assert!(!p("https://*.example.com").covers(&p("https://evilexample.com")));
        assert!(!p("https://example.com").covers(&p("http://example.com")));
        assert!(!p("https://example.com").covers(&p("https://example.com:8443")));
        assert!(p("https://example.com:*").covers(&p("https://example.com:8443")));
        assert!(!p("https://example.com:8443").covers(&p("https://example.com:*")));
        assert!(p("http://127.0.0.1:8080").allows("http", "127.0.0.1", 8080));
        assert!(!p("http://127.0.0.1:8080").allows("http", "127.0.0.1", 8081));
    }

    #[test]
    fn name_patterns_match_exactly_or_by_prefix() {
        assert!(name_matches("LANG", "LANG"));
        assert!(!name_matches("LANG", "LANGUAGE"));
        assert!(name_matches("APP_*", "APP_MODE"));
        assert!(name_matches("env::*", "env::get"));
        assert!(!name_matches("env::*", "other::get"));
    }
}
