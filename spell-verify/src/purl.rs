//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`) and their OSV ecosystems.

/// A parsed package URL (qualifiers and subpath dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Purl {
    pub(crate) ty: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) version: Option<String>,
}

impl Purl {
    /// Parses a purl; `None` if it is not one.
    pub(crate) fn parse(s: &str) -> Option<Purl> {
        let rest = s
            .strip_prefix("pkg:")
            .or_else(|| s.strip_prefix("PKG:"))?
            .trim_start_matches('/');
        let rest = rest.split('#').next()?.split('?').next()?;
        let (ty, rest) = rest.split_once('/')?;
        let (path, version) = match rest.rfind('@') {
            Some(at) if at > rest.rfind('/').unwrap_or(0) && at > 0 => {
                (&rest[..at], Some(decode(&rest[at + 1..])))
            }
            _ => (rest, None),
        };
        let path = path.trim_end_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, name)) => (Some(decode(ns)), decode(name)),
            None => (None, decode(path)),
        };
        (!name.is_empty() && !ty.is_empty()).then(|| Purl {
            ty: ty.to_ascii_lowercase(),
            namespace,
            name,
            version,
        })
    }

    /// The OSV ecosystem and package name this purl denotes, for the types OSV covers without a
    /// distribution release (so not `deb`, `apk`, `rpm`).
    pub(crate) fn osv_package(&self) -> Option<(&'static str, String)> {
        let ns = |sep: &str| match &self.namespace {
            Some(ns) => format!("{ns}{sep}{}", self.name),
            None => self.name.clone(),
        };
        Some(match self.ty.as_str() {
            "cargo" => ("crates.io", self.name.clone()),
            "npm" => ("npm", ns("/")),
            "pypi" => ("PyPI", self.name.to_ascii_lowercase().replace('_', "-")),
            "golang" => ("Go", ns("/")),
            "maven" => ("Maven", ns(":")),
            "composer" => ("Packagist", ns("/")),
            "gem" => ("RubyGems", self.name.clone()),
            "nuget" => ("NuGet", self.name.clone()),
            "hex" => ("Hex", self.name.clone()),
            "pub" => ("Pub", self.name.clone()),
            _ => return None,
        })
    }
}

/// Percent-decoding; malformed escapes are kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::cargo("pkg:cargo/time@0.1.45", "crates.io", "time", Some("0.1.45"))]
    #[case::npm_scoped(
        "pkg:npm/%40sigstore/sign@2.0.0",
        "npm",
        "@sigstore/sign",
        Some("2.0.0")
    )]
    #[case::pypi("pkg:pypi/Django_Rest@3.0?x=1#sub", "PyPI", "django-rest", Some("3.0"))]
    #[case::maven(
        "pkg:maven/org.apache/log4j-core@2.14.1",
        "Maven",
        "org.apache:log4j-core",
        Some("2.14.1")
    )]
    #[case::golang(
        "pkg:golang/github.com/gin-gonic/gin@v1.9.0",
        "Go",
        "github.com/gin-gonic/gin",
        Some("v1.9.0")
    )]
    #[case::composer(
        "pkg:composer/laravel/framework@v7.12.0",
        "Packagist",
        "laravel/framework",
        Some("v7.12.0")
    )]
    #[case::no_version("pkg:cargo/serde", "crates.io", "serde", None)]
    fn purls_map_to_osv_packages(
        #[case] purl: &str,
        #[case] eco: &str,
        #[case] name: &str,
        #[case] version: Option<&str>,
    ) {
        let p = Purl::parse(purl).expect("parse");
        assert_eq!(p.osv_package(), Some((eco, name.to_string())));
        assert_eq!(p.version.as_deref(), version);
    }

    #[test]
    fn non_purls_and_distro_types_do_not_map() {
        assert_eq!(Purl::parse("cargo/time@1"), None);
        assert_eq!(
            Purl::parse("pkg:apk/alpine/musl@1.2.2-r0?distro=3.13.1").and_then(|p| p.osv_package()),
            None
        );
    }
}
