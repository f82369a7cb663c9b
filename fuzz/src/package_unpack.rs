//! `Package::read` on arbitrary bytes. Oracles: whatever is accepted honours the caps and the
//! manifest's pins, and its members assembled again read back to the same package.

use spell_core::{Package, PackageLimits, Sha256Digest};

/// Small caps, so that declared sizes beyond them are refused before anything is allocated.
const LIMITS: PackageLimits = PackageLimits {
    max_package_bytes: 1 << 20,
    max_module_bytes: 512 << 10,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(p) = Package::read(data, &LIMITS) else {
        return;
    };
    let m = &p.manifest;
    assert!(data.len() as u64 <= LIMITS.max_package_bytes);
    assert!(p.module.len() as u64 <= LIMITS.max_module_bytes);
    assert_eq!(
        (Sha256Digest::of(&p.module), p.module.len() as u64),
        (m.module.sha256, m.module.size)
    );
    match (&m.sbom, &p.sbom) {
        (Some(pin), Some(sbom)) => assert_eq!(
            (Sha256Digest::of(sbom), sbom.len() as u64),
            (pin.sha256, pin.size)
        ),
        (None, None) => {}
        _ => panic!("SBOM presence disagrees with the manifest"),
    }
    let again = Package::assemble(
        &p.manifest_bytes,
        &p.module,
        p.sbom.as_deref(),
        p.bundle.as_deref(),
    );
    let q = Package::read(&again, &LIMITS)
        .expect("the members of a package read once assemble to a readable package");
    assert_eq!(
        (&q.manifest_bytes, &q.manifest, &q.module),
        (&p.manifest_bytes, &p.manifest, &p.module)
    );
    assert_eq!((&q.sbom, &q.bundle), (&p.sbom, &p.bundle));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_package_passes_the_oracles() {
        super::run(include_bytes!("../../examples/hello/hello.spell"));
    }
}
