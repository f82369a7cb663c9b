//! The URL a guest asks for, parsed once with the WHATWG rules (`url`), so the grant check, the
//! SSRF guard, the `Host` header and TLS all see the same normalized host: `http://2130706433/`
//! is `127.0.0.1`, names are lowercase and punycoded.

use super::NetError;
use spell_core::HostPattern;
use std::net::IpAddr;
use url::{Host, Position, Url};

/// An `http` or `https` URL without credentials or fragment.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: Url,
    port: u16,
}

impl Target {
    pub(crate) fn parse(text: &str) -> Result<Target, NetError> {
        let invalid = |reason: String| NetError::Invalid(reason);
        let mut url = Url::parse(text).map_err(|e| invalid(format!("URL `{text}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "URL `{text}`: scheme must be http or https"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(format!(
                "URL `{text}`: credentials in URLs are not supported; send a header"
            )));
        }
        // Both schemes always have a host and a known default port after parsing.
        let port = url
            .port_or_known_default()
            .ok_or_else(|| invalid(format!("URL `{text}`: no port")))?;
        if url.host().is_none() {
            return Err(invalid(format!("URL `{text}`: no host")));
        }
        url.set_fragment(None);
        Ok(Target { url, port })
    }

    pub(crate) fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The host as patterns and messages spell it: `example.com`, `127.0.0.1`, `[::1]`.
    pub(crate) fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The host when it is an IP literal.
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        match self.url.host()? {
            Host::Ipv4(a) => Some(a.into()),
            Host::Ipv6(a) => Some(a.into()),
            Host::Domain(_) => None,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header: the host, plus the port when it is not the scheme's default.
    pub(crate) fn authority(&self) -> String {
        match self.url.port() {
            Some(p) => format!("{}:{p}", self.host()),
            None => self.host().to_string(),
        }
    }

    /// The request target: path and query (`/a/b?c`).
    pub(crate) fn origin_form(&self) -> &str {
        &self.url[Position::BeforePath..Position::AfterQuery]
    }

    /// Whether any granted pattern allows this URL's scheme, host and port.
    pub(crate) fn granted_by(&self, patterns: &[HostPattern]) -> bool {
        patterns
            .iter()
            .any(|p| p.allows(self.url.scheme(), self.host(), self.port))
    }

    pub(crate) fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        Target::parse(s).expect(s)
    }

    #[test]
    fn urls_are_normalized_once() {
        let a = t("HTTP://Example.COM:80/a/../b?q=1#frag");
        assert_eq!(
            (a.host(), a.port(), a.authority().as_str(), a.origin_form()),
            ("example.com", 80, "example.com", "/b?q=1")
        );
        assert_eq!(a.as_str(), "http://example.com/b?q=1");
        assert_eq!(
            t("http://2130706433:8080/").ip(),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(t("http://2130706433:8080/").authority(), "127.0.0.1:8080");
        let v6 = t("https://[0:0::1]/");
        assert_eq!((v6.host(), v6.port(), v6.is_https()), ("[::1]", 443, true));
        assert_eq!(v6.ip(), Some("::1".parse().expect("ip")));
    }

    #[test]
    fn bad_urls_are_invalid_requests() {
        for bad in [
            "",
            "example.com/x",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://user:pw@example.com/",
            "http://exa mple.com/",
            "http://[::1/",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(NetError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn grants_match_scheme_host_and_port() {
        let patterns: Vec<HostPattern> = ["https://*.example.com", "http://127.0.0.1:8080"]
            .iter()
            .map(|p| p.parse().expect(p))
            .collect();
        assert!(t("https://api.example.com/x").granted_by(&patterns));
        assert!(t("http://127.0.0.1:8080/").granted_by(&patterns));
        assert!(t("http://2130706433:8080/").granted_by(&patterns));
        assert!(!t("http://127.0.0.1:8081/").granted_by(&patterns));
        assert!(!t("http://api.example.com/").granted_by(&patterns));
        assert!(!t("https://example.com/").granted_by(&patterns));
    }
}
