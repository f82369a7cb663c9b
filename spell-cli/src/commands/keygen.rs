//! `spell keygen [--out DIR] [--name NAME]`: a signing key for offline, key-based signing, and
//! what a host needs to verify its signatures offline: a trusted root holding the key's private
//! transparency log, the public key, and a policy snippet naming both.

use crate::report::Coded;
use anyhow::Context;
use spell_verify::SigningKey;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Arguments of `spell keygen`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder to write into (created if missing).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Base name of the files and of the signer rule.
    #[arg(long, default_value = "spell")]
    name: String,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let key = SigningKey::generate().map_err(Coded::from)?;
    let n = &args.name;
    let files = [
        (format!("{n}.key"), key.to_pem()),
        (
            format!("{n}.pub"),
            key.public_key_pem().map_err(Coded::from)?,
        ),
        (
            format!("{n}.trusted_root.json"),
            key.trusted_root_json(SystemTime::now())
                .map_err(Coded::from)?,
        ),
        (
            format!("{n}.policy.toml"),
            format!(
                "# Trust spells signed with {n}.key. Paths are relative to the policy file.\n\
                 [trust]\ntrusted_roots = [\"{n}.trusted_root.json\"]\n\
                 signers = [{{ name = \"{n}\", public_key = \"{n}.pub\" }}]\n"
            ),
        ),
    ];
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, _) in &files {
        let path = args.out.join(name);
        anyhow::ensure!(
            args.force || !path.exists(),
            "{} exists; pass --force to overwrite",
            path.display()
        );
    }
    for (name, text) in &files {
        write(&args.out.join(name), text, name.ends_with(".key"))?;
    }
    println!(
        "key {} ({})",
        args.out.join(format!("{n}.key")).display(),
        key.fingerprint()
    );
    println!(
        "hosts trust it with {}.trusted_root.json, {n}.pub and the rule in {n}.policy.toml",
        n
    );
    Ok(0)
}

fn write(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
