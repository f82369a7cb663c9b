//! `Runtime::rescan` of many loaded spells (`SPELL_BENCH_SPELLS`, default 1,000), each signed
//! with a key-based signer and carrying an SBOM of this repository's 400-odd Cargo.lock packages,
//! under a policy with an OSV folder of 800 advisories:
//!
//! - `unchanged`: no file changed; every verdict is answered from what the spells hold (the goal:
//!   under 50 ms for 1,000 spells; exit 1 when missed);
//! - `osv update`: one advisory added (for a crate no spell uses): the SBOM stages run again for
//!   every spell, the signature checks come from the cache keyed by the trust material's digest;
//! - `root rotated`: the trusted root's bytes changed (same keys): everything is verified again,
//!   signatures included, for comparison;
//! - `advisory hits all`: an advisory for a component every spell lists: all are revoked.
//!
//! Not a criterion bench: the set-up (loading the spells) dominates, and each row is one figure
//! (median of `SPELL_BENCH_RESCANS` rescans, default 5; 20 for `unchanged`). Wall-clock.

use spell_benches::fixtures;
use spell_benches::measure::env_count;
use spell_core::{Package, PackageLimits, Policy};
use spell_runtime::Runtime;
use spell_verify::{SbomBuilder, SigningKey};
use std::time::{Duration, Instant, SystemTime};

const GOAL_UNCHANGED_PER_1000: Duration = Duration::from_millis(50);

fn advisory(id: &str, crate_name: &str) -> String {
    format!(
        r#"{{"id":"{id}","modified":"2026-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"crates.io","name":"{crate_name}"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}}]}}]}}]}}"#
    )
}

fn median(label: &str, n: usize, mut run: impl FnMut(usize) -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..n).map(&mut run).collect();
    times.sort();
    let m = times[times.len() / 2];
    println!(
        "rescan {label:<20} median {:>9.2} ms  (best {:.2}, worst {:.2}, n={n})",
        m.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[n - 1].as_secs_f64() * 1e3
    );
    m
}

fn main() {
    let spells = env_count("SPELL_BENCH_SPELLS", 1000);
    let rescans = env_count("SPELL_BENCH_RESCANS", 5);
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("Cargo.lock");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let key = SigningKey::generate().expect("key");
    let root = key
        .trusted_root_json(SystemTime::now() - Duration::from_secs(60))
        .expect("root");
    std::fs::write(d.join("trusted_root.json"), &root).expect("write");
    std::fs::write(d.join("maker.pub"), key.public_key_pem().expect("pem")).expect("write");
    std::fs::create_dir(d.join("osv")).expect("mkdir");
    for i in 0..800 {
        let id = format!("BENCH-{i:04}");
        std::fs::write(
            d.join(format!("osv/{id}.json")),
            advisory(&id, &format!("unused-crate-{i}")),
        )
        .expect("write");
    }
    std::fs::write(
        d.join("policy.toml"),
        "[trust]\ntrusted_roots = [\"trusted_root.json\"]\n\
         signers = [{ name = \"maker\", public_key = \"maker.pub\" }]\n\
         [sbom]\nrequired = true\nosv_database = \"osv\"\n",
    )
    .expect("write");
    let policy = Policy::from_file(&d.join("policy.toml")).expect("policy");

    let wasm = fixtures::wat("noop");
    let sbom = SbomBuilder::new("bench", "1.0.0", &wasm)
        .cargo_lock(&lock)
        .expect("cargo lock")
        .build();
    let runtime = Runtime::new().expect("runtime");
    let started = Instant::now();
    let loaded: Vec<_> = (0..spells)
        .map(|i| {
            let manifest = format!(
                r#"{{"name":"s{i}","version":"1.0.0","license":"MIT","entrypoint":"run"}}"#
            );
            let bytes = Package::pack(manifest.as_bytes(), &wasm, Some(&sbom), None).expect("pack");
            let package = Package::read(&bytes, &PackageLimits::default()).expect("read");
            let signed = key.sign_package(&package, SystemTime::now()).expect("sign");
            runtime.load(&signed, &policy).expect("load")
        })
        .collect();
    println!(
        "{spells} signed spells, {} SBOM components each, 800 advisories: signed and loaded in {:.2} s",
        lock.matches("[[package]]").count(),
        started.elapsed().as_secs_f64()
    );

    let timed = |expect_changes: usize| {
        let t = Instant::now();
        let report = runtime.rescan(&policy).expect("rescan");
        let took = t.elapsed();
        assert_eq!(report.spells, spells);
        assert_eq!(
            report.changes.len(),
            expect_changes,
            "{:?}",
            report.changes.first()
        );
        took
    };
    let unchanged = median("unchanged", 20, |_| timed(0));
    median("osv update", rescans, |i| {
        std::fs::write(
            d.join(format!("osv/NEW-{i}.json")),
            advisory(&format!("NEW-{i}"), &format!("another-unused-crate-{i}")),
        )
        .expect("write");
        timed(0)
    });
    median("root rotated", rescans, |i| {
        // The same root with different bytes: a content change that leaves every verdict as it was.
        std::fs::write(
            d.join("trusted_root.json"),
            format!("{root}{}", " ".repeat(i + 1)),
        )
        .expect("write");
        timed(0)
    });
    std::fs::write(d.join("osv/HITS-ALL.json"), advisory("HITS-ALL", "serde")).expect("write");
    median("advisory hits all", 1, |_| timed(spells));
    assert!(loaded.iter().all(|s| s.revoked().is_some()));

    let goal = GOAL_UNCHANGED_PER_1000 * u32::try_from(spells.div_ceil(1000)).unwrap_or(1);
    if unchanged > goal {
        println!(
            "unchanged rescan missed its goal of {} ms",
            goal.as_millis()
        );
        std::process::exit(1);
    }
    println!(
        "unchanged rescan within its goal of {} ms",
        goal.as_millis()
    );
}
