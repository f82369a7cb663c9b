//! Arbitrary Sigstore bundle bytes attached to a real package, verified under a policy that
//! trusts the example key (`examples/keys`). The package is the example spell with its version
//! changed, which nobody signed: whatever the bundle, including the example key's genuine
//! bundles for other manifests (the seeds), verification must refuse it, and never panic.

use spell_core::{Package, PackageLimits, Policy};
use spell_verify::PolicyVerifier;
use std::sync::OnceLock;

struct Fixture {
    package: Package,
    verifier: PolicyVerifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hello = crate::fixtures::hello_package();
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&hello.manifest_bytes).expect("manifest JSON");
        manifest["version"] = "0.1.1-unsigned".into();
        let bytes = Package::assemble(
            manifest.to_string().as_bytes(),
            &hello.module,
            hello.sbom.as_deref(),
            None,
        );
        let package =
            Package::read(&bytes, &PackageLimits::default()).expect("the changed example reads");
        let keys = crate::fixtures::crate_dir().join("../examples/keys/example.policy.toml");
        let policy = Policy::from_file(&keys).expect("the example key policy parses");
        Fixture {
            package,
            verifier: PolicyVerifier::new(&policy).expect("the example verifier builds"),
        }
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let package = Package {
        bundle: Some(data.to_vec()),
        ..f.package.clone()
    };
    if let Ok(v) = f.verifier.verify(&package) {
        panic!("an arbitrary bundle verified: {v:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_genuine_bundle_verifies_only_its_own_manifest() {
        let hello = crate::fixtures::hello_package();
        let bundle = hello.bundle.clone().expect("the example is signed");
        assert!(fixture().verifier.verify(&hello).is_ok());
        run(&bundle);
    }
}
