//! `spell audit`: packages at rest against today's policy and OSV database.

use crate::verify::{ok, package, s, spell};

#[test]
fn audit_of_a_folder_names_the_vulnerable_spell_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&["keygen", "--out", s(d), "--name", "maker"]);
    let spells = d.join("spells");
    std::fs::create_dir(&spells).expect("mkdir");
    for (name, purl) in [
        ("ossl", "pkg:cargo/openssl@0.10.50"),
        ("clean", "pkg:cargo/openssl@0.10.55"),
    ] {
        let pkg = package(d, name, purl);
        let signed = spells.join(format!("{name}.spell"));
        std::fs::rename(&pkg, &signed).expect("move");
        ok(&["sign", s(&signed), "--key", s(&d.join("maker.key"))]);
    }
    std::fs::create_dir(d.join("osv")).expect("mkdir");
    let policy = d.join("policy.toml");
    let trust = std::fs::read_to_string(d.join("maker.policy.toml")).expect("policy");
    std::fs::write(
        &policy,
        format!("{trust}\n[sbom]\nosv_database = \"osv\"\n"),
    )
    .expect("write");

    let args = ["audit", "--policy", s(&policy), s(&spells)];
    let text = ok(&args);
    assert!(text.contains("2 spells, 0 would be refused"), "{text}");

    std::fs::write(
        d.join("osv/RUSTSEC-2023-0044.json"),
        r#"{"id": "RUSTSEC-2023-0044", "modified": "2023-07-20T00:00:00Z",
            "affected": [{"package": {"ecosystem": "crates.io", "name": "openssl"},
              "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.10.0"}, {"fixed": "0.10.55"}]}]}]}"#,
    )
    .expect("write advisory");
    let out = spell(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let refused: Vec<_> = text.lines().filter(|l| l.starts_with("refused")).collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(
        refused[0].contains("E-SBOM-005") && refused[0].contains("ossl.spell"),
        "{text}"
    );
    assert!(refused[0].contains("RUSTSEC-2023-0044"), "{text}");

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = spell(&json_args);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["refused"], 1);
    let verdicts: Vec<_> = json["spells"]
        .as_array()
        .expect("spells")
        .iter()
        .map(|a| {
            (
                a["name"].as_str(),
                a["verdict"].as_str(),
                a["error"]["code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (Some("clean"), Some("accepted"), None),
            (Some("ossl"), Some("refused"), Some("E-SBOM-005")),
        ]
    );
}
