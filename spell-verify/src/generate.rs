//! Writing a CycloneDX 1.5 SBOM for a module (`spell sbom generate`).
//!
//! `metadata.component` carries the module's SHA-256, which binds the SBOM to the module
//! ([`crate::PolicyVerifier`] refuses a mismatch). Components come from a `Cargo.lock` (registry
//! packages, with their checksums; path and git packages are left out: the first are the module
//! itself, the second have no registry identity OSV knows) and from explicit purls. Output is
//! deterministic: no timestamp, and a serial number derived from the content.

use crate::error::GenerateError;
use crate::purl::Purl;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Builds an SBOM.
#[derive(Debug, Clone)]
pub struct SbomBuilder {
    name: String,
    version: String,
    module_sha256: String,
    license: Option<String>,
    components: Vec<Value>,
}

impl SbomBuilder {
    /// An SBOM for `module`, described as `name` `version`. No components, no license.
    pub fn new(name: &str, version: &str, module: &[u8]) -> SbomBuilder {
        SbomBuilder {
            name: name.into(),
            version: version.into(),
            module_sha256: hex::encode(Sha256::digest(module)),
            license: None,
            components: Vec::new(),
        }
    }

    /// The module's own license expression (put on `metadata.component`).
    pub fn license(mut self, expression: &str) -> SbomBuilder {
        self.license = Some(expression.into());
        self
    }

    /// Adds every registry package of a `Cargo.lock`.
    pub fn cargo_lock(mut self, text: &str) -> Result<SbomBuilder, GenerateError> {
        let lock: toml::Value = toml::from_str(text).map_err(|e| GenerateError::CargoLock {
            reason: e.to_string(),
        })?;
        let packages = lock
            .get("package")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for p in packages {
            let field = |k: &str| p.get(k).and_then(toml::Value::as_str);
            let (Some(name), Some(version), Some(source)) =
                (field("name"), field("version"), field("source"))
            else {
                continue;
            };
            if !source.starts_with("registry+") && !source.starts_with("sparse+") {
                continue;
            }
            let purl = format!("pkg:cargo/{name}@{version}");
            let mut c = component(&purl, name, version);
            if let Some(sum) = field("checksum") {
                c["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
            }
            self.components.push(c);
        }
        Ok(self)
    }

    /// Adds a component named by a package URL with a version.
    pub fn purl(mut self, purl: &str) -> Result<SbomBuilder, GenerateError> {
        let parsed = Purl::parse(purl).ok_or_else(|| GenerateError::Purl { purl: purl.into() })?;
        let version = parsed
            .version
            .clone()
            .ok_or_else(|| GenerateError::Purl { purl: purl.into() })?;
        self.components
            .push(component(purl, &parsed.name, &version));
        Ok(self)
    }

    /// The SBOM as pretty JSON with a final newline.
    pub fn build(mut self) -> Vec<u8> {
        self.components
            .sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
        self.components
            .dedup_by(|a, b| a["bom-ref"] == b["bom-ref"]);
        let mut subject = json!({
            "type": "application",
            "bom-ref": format!("spell:{}@{}", self.name, self.version),
            "name": self.name,
            "version": self.version,
            "hashes": [{ "alg": "SHA-256", "content": self.module_sha256 }],
        });
        if let Some(l) = &self.license {
            subject["licenses"] = json!([{ "expression": l }]);
        }
        let mut doc = json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "metadata": { "component": subject },
            "components": self.components,
        });
        doc["serialNumber"] = json!(serial_number(&doc));
        let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

fn component(purl: &str, name: &str, version: &str) -> Value {
    json!({ "type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl })
}

/// A UUID (version 5 layout) derived from the document, so equal inputs give equal SBOMs.
fn serial_number(doc: &Value) -> String {
    let mut h = Sha256::digest(doc.to_string().as_bytes());
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    let x = hex::encode(&h[..16]);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::Sbom;

    const LOCK: &str = r#"
version = 4
[[package]]
name = "demo"
version = "0.1.0"
[[package]]
name = "time"
version = "0.1.45"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1b797afad3f312d1c66a56d11d0316f916356d11bd158fbc6ca6389ff6bf805a"
[[package]]
name = "gitdep"
version = "1.0.0"
source = "git+https://example.invalid/x#abc"
"#;

    #[test]
    fn generated_sbom_validates_and_binds_the_module() {
        let bytes = SbomBuilder::new("demo", "0.1.0", b"\0asm")
            .license("MIT")
            .cargo_lock(LOCK)
            .and_then(|b| b.purl("pkg:npm/left-pad@1.3.0"))
            .expect("build")
            .build();
        let sbom = Sbom::parse(&bytes).expect("valid CycloneDX 1.5");
        assert_eq!(sbom.spec_version, "1.5");
        assert_eq!(
            sbom.subject_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"\0asm")).as_str())
        );
        let purls: Vec<_> = sbom
            .components
            .iter()
            .filter_map(|c| c.purl.as_deref())
            .collect();
        assert_eq!(purls, ["pkg:cargo/time@0.1.45", "pkg:npm/left-pad@1.3.0"]);
        let again = SbomBuilder::new("demo", "0.1.0", b"\0asm")
            .license("MIT")
            .cargo_lock(LOCK)
            .expect("lock");
        let again = again.purl("pkg:npm/left-pad@1.3.0").expect("purl").build();
        assert_eq!(again, bytes, "deterministic");
    }

    #[test]
    fn purls_need_a_version_and_locks_must_parse() {
        assert!(
            SbomBuilder::new("d", "1.0.0", b"")
                .purl("pkg:cargo/serde")
                .is_err()
        );
        assert!(SbomBuilder::new("d", "1.0.0", b"").purl("serde@1").is_err());
        assert!(
            SbomBuilder::new("d", "1.0.0", b"")
                .cargo_lock("[[package")
                .is_err()
        );
    }
}
