//! Supply chain over time: verdicts keyed on the contents of the trust material and the OSV
//! database, `Runtime::rescan` revoking loaded spells, and the policy's revocation lists.

use spell_core::{ErrorCode, HasCode, Package, PackageLimits, Policy};
use spell_runtime::{
    Allowance, CastContext, CastRequest, Denied, EventKind, MeteringHook, Outcome, Runtime,
    UsageLog, UsageRecord, Verdict,
};
use spell_verify::{SbomBuilder, SigningKey};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// RUSTSEC-2023-0044 as osv.dev serves it, reduced to what matching reads.
const RUSTSEC_2023_0044: &str = r#"{
  "id": "RUSTSEC-2023-0044", "modified": "2023-07-20T00:00:00Z",
  "aliases": ["GHSA-xcf7-rvmh-g6q4"],
  "summary": "`openssl` `X509VerifyParamRef::set_host` buffer over-read",
  "affected": [{"package": {"ecosystem": "crates.io", "name": "openssl"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.10.0"}, {"fixed": "0.10.55"}]}]}]
}"#;

/// A maker's key, a host policy file trusting it with an OSV folder, and a runtime observed by a
/// log.
struct Host {
    dir: tempfile::TempDir,
    key: SigningKey,
    runtime: Runtime,
    observed: Arc<UsageLog>,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("osv")).expect("mkdir");
        let key = SigningKey::generate().expect("keygen");
        trust(dir.path(), &key);
        let observed = Arc::new(UsageLog::new());
        let runtime = Runtime::builder()
            .meter(observed.clone())
            .build()
            .expect("runtime");
        Host {
            dir,
            key,
            runtime,
            observed,
        }
    }

    /// The policy file with `extra` TOML lines in `[trust]`, read as an operator's would be.
    fn policy(&self, trust_extra: &str) -> Policy {
        let text = format!(
            "[trust]\ntrusted_roots = [\"trusted_root.json\"]\n\
             signers = [{{ name = \"maker\", public_key = \"maker.pub\" }}]\n{trust_extra}\n\
             [sbom]\nosv_database = \"osv/\"\nrefuse_vulnerabilities = \"any\"\n"
        );
        let path = self.dir.path().join("policy.toml");
        std::fs::write(&path, text).expect("write policy");
        Policy::from_file(&path).expect("policy")
    }

    /// A spell listing `purl` in its SBOM, signed `ago` before now.
    fn spell(&self, name: &str, purl: &str, ago: Duration) -> Vec<u8> {
        signed(&self.key, name, purl, ago)
    }

    fn advisory(&self, present: bool) {
        let path = self.dir.path().join("osv/RUSTSEC-2023-0044.json");
        if present {
            std::fs::write(path, RUSTSEC_2023_0044).expect("write advisory");
        } else {
            std::fs::remove_file(path).expect("remove advisory");
        }
    }

    fn revocations(&self) -> Vec<(String, String)> {
        self.observed
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::SpellRevoked {
                    spell_name, code, ..
                } => Some((spell_name, code)),
                _ => None,
            })
            .collect()
    }
}

/// Writes `key`'s trusted root and public key where the policy names them.
fn trust(dir: &Path, key: &SigningKey) {
    let start = SystemTime::now() - Duration::from_secs(3600);
    std::fs::write(
        dir.join("trusted_root.json"),
        key.trusted_root_json(start).expect("root"),
    )
    .expect("write root");
    std::fs::write(dir.join("maker.pub"), key.public_key_pem().expect("pem")).expect("write key");
}

fn signed(key: &SigningKey, name: &str, purl: &str, ago: Duration) -> Vec<u8> {
    let wasm = wat::parse_str(r#"(module (func (export "run")))"#).expect("wat");
    let manifest =
        format!(r#"{{"name":"{name}","version":"1.0.0","license":"MIT","entrypoint":"run"}}"#);
    let sbom = SbomBuilder::new(name, "1.0.0", &wasm)
        .purl(purl)
        .expect("purl")
        .build();
    let unsigned = Package::pack(manifest.as_bytes(), &wasm, Some(&sbom), None).expect("pack");
    let unsigned = Package::read(&unsigned, &PackageLimits::default()).expect("read");
    key.sign_package(&unsigned, SystemTime::now() - ago)
        .expect("sign")
}

/// A meter whose `authorize` says the cast started, then holds it until released: a cast in
/// flight, past the revocation check, while the test rescans.
struct Gate {
    started: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
    log: UsageLog,
}

impl MeteringHook for Gate {
    fn authorize(&self, _: &CastContext<'_>) -> Result<Allowance, Denied> {
        let _ = self.started.lock().expect("lock").send(());
        let _ = self.release.lock().expect("lock").recv();
        Ok(Allowance::default())
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), spell_runtime::HookError> {
        self.log.record(usage)
    }
}

const OPENSSL: &str = "pkg:cargo/openssl@0.10.50";
const SERDE: &str = "pkg:cargo/serde@1.0.200";

#[test]
fn a_new_advisory_refuses_the_next_load_and_revokes_the_loaded_spell_at_rescan() {
    let host = Host::new();
    let policy = host.policy("");
    let vulnerable = host.spell("ossl", OPENSSL, Duration::ZERO);
    let clean = host.spell("clean", SERDE, Duration::ZERO);
    let spell = host.runtime.load(&vulnerable, &policy).expect("load");
    let other = host.runtime.load(&clean, &policy).expect("load clean");

    // A cast in flight when the advisory arrives.
    let (started_tx, started) = channel();
    let (release, release_rx) = channel();
    let gate = Arc::new(Gate {
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
        log: UsageLog::new(),
    });
    let in_flight = {
        let (spell, gate) = (spell.clone(), gate.clone());
        std::thread::spawn(move || spell.cast(CastRequest::new().meter(gate)))
    };
    started.recv().expect("the cast started");

    // The daily database update.
    host.advisory(true);
    let err = host
        .runtime
        .load(&vulnerable, &policy)
        .expect_err("the cached verdict must not answer");
    assert_eq!(err.code(), ErrorCode::VulnerabilityFound, "{err}");
    assert!(err.to_string().contains("RUSTSEC-2023-0044"), "{err}");
    host.runtime
        .load(&clean, &policy)
        .expect("clean still loads");

    let report = host.runtime.rescan(&policy).expect("rescan");
    assert_eq!(report.spells, 2);
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let change = &report.changes[0];
    assert_eq!(change.name, "ossl");
    assert_eq!(change.digest, spell.digest().to_hex());
    assert_eq!(
        change.before,
        Verdict::Accepted {
            warnings: Vec::new()
        }
    );
    match &change.after {
        Verdict::Refused { code, message } => {
            assert_eq!(*code, ErrorCode::VulnerabilityFound);
            assert!(message.contains("RUSTSEC-2023-0044"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        host.revocations(),
        vec![("ossl".to_string(), "E-SBOM-005".to_string())]
    );

    // The cast in flight finishes and is recorded.
    release.send(()).expect("release");
    let outcome = in_flight.join().expect("thread").expect("in-flight cast");
    assert_eq!(outcome.outcome, Outcome::Ok);
    assert_eq!(gate.log.records().len(), 1);

    // The next cast is refused before anything runs: no record.
    let log = Arc::new(UsageLog::new());
    let err = spell
        .cast(CastRequest::new().meter(log.clone()))
        .expect_err("revoked");
    assert_eq!(err.code(), ErrorCode::SpellRevoked);
    assert!(err.to_string().contains("[E-SBOM-005]"), "{err}");
    assert!(log.records().is_empty());
    assert_eq!(
        spell.revoked().map(|e| e.code()),
        Some(ErrorCode::SpellRevoked)
    );
    let outcome = other.cast(CastRequest::new()).expect("clean casts");
    assert_eq!(outcome.outcome, Outcome::Ok);

    // A rescan with nothing new changes nothing; the advisory withdrawn restores the spell.
    assert!(
        host.runtime
            .rescan(&policy)
            .expect("rescan")
            .changes
            .is_empty()
    );
    host.advisory(false);
    let report = host.runtime.rescan(&policy).expect("rescan");
    assert_eq!(report.revoked().count(), 0);
    assert_eq!(report.changes.len(), 1);
    assert!(spell.revoked().is_none());
    spell.cast(CastRequest::new()).expect("restored");
}

#[rstest::rstest]
#[case::digest("revoked_digests", ErrorCode::DigestRevoked)]
#[case::signer_rule("revoked_signers = [\"maker\"]", ErrorCode::SignerRevoked)]
#[case::signer_key("revoked_signers = [\"{fingerprint}\"]", ErrorCode::SignerRevoked)]
#[case::signed_before("revoked_before = \"{cutoff}\"", ErrorCode::SignatureRevoked)]
fn policy_revocations_take_effect_at_rescan(#[case] entry: &str, #[case] code: ErrorCode) {
    let host = Host::new();
    let old = host.runtime.load(
        &host.spell("old", SERDE, Duration::from_secs(600)),
        &host.policy(""),
    );
    let old = old.expect("load");
    let new = host
        .runtime
        .load(&host.spell("new", SERDE, Duration::ZERO), &host.policy(""))
        .expect("load");
    let cutoff = jiff::Timestamp::try_from(SystemTime::now() - Duration::from_secs(60))
        .expect("time")
        .to_string();
    let entry = match entry {
        "revoked_digests" => format!("revoked_digests = [\"{}\"]", old.digest()),
        e => e
            .replace("{fingerprint}", &host.key.fingerprint())
            .replace("{cutoff}", &cutoff),
    };
    old.cast(CastRequest::new())
        .expect("casts before the rescan");

    let report = host.runtime.rescan(&host.policy(&entry)).expect("rescan");
    let revoked: Vec<_> = report.revoked().map(|c| c.name.as_str()).collect();
    // Revoking the signer revokes both spells; a digest or a cut-off only the old one.
    let expected = if code == ErrorCode::SignerRevoked {
        vec!["old", "new"]
    } else {
        vec!["old"]
    };
    assert_eq!(revoked, expected, "{report:?}");
    let err = old.cast(CastRequest::new()).expect_err("revoked");
    assert_eq!(err.code(), ErrorCode::SpellRevoked);
    assert!(err.to_string().contains(code.code()), "{err}");
    assert_eq!(new.cast(CastRequest::new()).is_ok(), expected.len() == 1);
    assert_eq!(
        host.revocations().len(),
        expected.len(),
        "one event per revoked spell"
    );
}

#[test]
fn a_rotated_key_in_the_same_files_invalidates_cached_verdicts() {
    let host = Host::new();
    let policy = host.policy("");
    let package = host.spell("ossl", SERDE, Duration::ZERO);
    let spell = host.runtime.load(&package, &policy).expect("load");

    // The maker's key leaked: the operator trusts a new key, at the same paths.
    trust(host.dir.path(), &SigningKey::generate().expect("keygen"));
    let err = host
        .runtime
        .load(&package, &policy)
        .expect_err("signed with the old key");
    assert!(
        matches!(
            err.code(),
            ErrorCode::SignerNotTrusted | ErrorCode::SignatureInvalid
        ),
        "{err}"
    );
    let report = host.runtime.rescan(&policy).expect("rescan");
    assert_eq!(report.revoked().count(), 1);
    assert_eq!(
        spell.cast(CastRequest::new()).expect_err("revoked").code(),
        ErrorCode::SpellRevoked
    );
}

#[test]
fn dropped_spells_leave_the_rescan_and_broken_trust_material_revokes_nothing() {
    let host = Host::new();
    let policy = host.policy("");
    let spell = host
        .runtime
        .load(&host.spell("a", SERDE, Duration::ZERO), &policy)
        .expect("load");
    let again = spell.clone();
    let second = host
        .runtime
        .load(&host.spell("b", SERDE, Duration::ZERO), &policy)
        .expect("load");
    drop(second);
    assert_eq!(host.runtime.rescan(&policy).expect("rescan").spells, 1);

    std::fs::write(host.dir.path().join("trusted_root.json"), "{").expect("corrupt");
    let err = host.runtime.rescan(&policy).expect_err("unreadable root");
    assert_eq!(err.code(), ErrorCode::TrustRootInvalid);
    again.cast(CastRequest::new()).expect("not revoked");
    drop(spell);
    drop(again);
    trust(host.dir.path(), &host.key);
    assert_eq!(host.runtime.rescan(&policy).expect("rescan").spells, 0);
}

/// An observer that rescans when told of a revocation, as a host re-checking at once would.
#[derive(Default)]
struct Rescanning {
    runtime: std::sync::OnceLock<(Runtime, Policy)>,
    rescans: Mutex<usize>,
}

impl MeteringHook for Rescanning {
    fn observe(&self, event: &spell_runtime::Event) -> Result<(), spell_runtime::HookError> {
        if let (EventKind::SpellRevoked { .. }, Some((runtime, policy))) =
            (&event.kind, self.runtime.get())
        {
            runtime.rescan(policy).expect("rescan from the observer");
            *self.rescans.lock().expect("lock") += 1;
        }
        Ok(())
    }
}

#[test]
fn an_observer_may_rescan_when_told_of_a_revocation() {
    let host = Host::new();
    let observer = Arc::new(Rescanning::default());
    let runtime = Runtime::builder()
        .meter(observer.clone())
        .build()
        .expect("runtime");
    let spell = runtime
        .load(&host.spell("a", SERDE, Duration::ZERO), &host.policy(""))
        .expect("load");
    let revoking = host.policy(&format!("revoked_digests = [\"{}\"]", spell.digest()));
    let _ = observer.runtime.set((runtime.clone(), revoking.clone()));
    assert_eq!(runtime.rescan(&revoking).expect("rescan").changes.len(), 1);
    assert_eq!(*observer.rescans.lock().expect("lock"), 1);
}
