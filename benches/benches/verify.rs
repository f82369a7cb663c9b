//! Verification: a signed package with a CycloneDX SBOM (every package of this repository's
//! Cargo.lock as a component) under a policy requiring a trusted key-based signer, an SBOM and
//! allowed licenses.
//!
//! - `verify/signature_and_sbom`: what each uncached load pays (`PolicyVerifier::verify`).
//! - `verify/load_cached/spell`: `runtime.load` of a package already loaded once (verdict and
//!   compiled module cached): read the package, hash its members, grant, link checks,
//!   pre-instantiate. The baseline is wasmtime's `instantiate_pre` of a compiled module.

use criterion::{Criterion, criterion_group, criterion_main};
use spell_benches::fixtures;
use spell_benches::measure::{self, ThreadTime};
use spell_benches::raw::{Settings, wasi_linker};
use spell_benches::spells::Signed;
use spell_core::{Package, PackageLimits};
use spell_runtime::Runtime;
use spell_verify::PolicyVerifier;
use wasmtime::Module;

fn verify(c: &mut Criterion<ThreadTime>) {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("Cargo.lock");
    let signed = Signed::new(&fixtures::hello_spell(), &lock);
    let package = Package::read(&signed.package, &PackageLimits::default()).expect("read");
    let verifier = PolicyVerifier::new(&signed.policy).expect("verifier");
    let verification = verifier.verify(&package).expect("verify");
    assert!(verification.signer.is_some() && verification.sbom.is_some());

    let runtime = Runtime::new().expect("runtime");
    runtime
        .load(&signed.package, &signed.policy)
        .expect("first load");
    let engine = Settings::POOLING.engine();
    let linker = wasi_linker(&engine, false);
    let module = Module::new(&engine, &package.module).expect("compile");

    let mut g = c.benchmark_group("verify");
    g.bench_function("signature_and_sbom", |b| {
        b.iter(|| verifier.verify(&package).expect("verify"))
    });
    g.bench_function("load_cached/spell", |b| {
        b.iter(|| runtime.load(&signed.package, &signed.policy).expect("load"))
    });
    g.bench_function("load_cached/raw", |b| {
        b.iter(|| linker.instantiate_pre(&module).expect("link"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = measure::criterion();
    targets = verify
}
criterion_main!(benches);
