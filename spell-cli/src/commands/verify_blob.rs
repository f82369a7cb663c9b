//! `spell verify-blob --bundle B (--certificate-identity ID --certificate-oidc-issuer URL | --key
//! PUB) [--trusted-root ROOT] ARTIFACT`: verifies any file against a Sigstore bundle, like
//! `cosign verify-blob`. Exit 0 when it verifies, 1 when it does not.

use crate::report::Coded;
use anyhow::Context;
use spell_core::SignerRule;
use spell_verify::{SignatureVerifier, TrustRoot};
use std::path::{Path, PathBuf};

/// Arguments of `spell verify-blob`.
#[derive(clap::Args)]
pub struct Args {
    /// The file that was signed.
    artifact: PathBuf,
    /// The Sigstore bundle (JSON).
    #[arg(long)]
    bundle: PathBuf,
    /// Keyless: the certificate subject (email or URI) that must have signed.
    #[arg(long, requires = "certificate_oidc_issuer", conflicts_with = "key")]
    certificate_identity: Option<String>,
    /// Keyless: the OIDC issuer of that identity.
    #[arg(long, requires = "certificate_identity")]
    certificate_oidc_issuer: Option<String>,
    /// Key-based: the signer's PEM public key.
    #[arg(long, required_unless_present = "certificate_identity")]
    key: Option<PathBuf>,
    /// A Sigstore trusted_root.json (default: the public-good production root built in).
    #[arg(long)]
    trusted_root: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let root = match &args.trusted_root {
        Some(path) => TrustRoot::from_file(path),
        None => TrustRoot::production(),
    }
    .map_err(Coded::from)?;
    let rule = SignerRule {
        name: Some("command line".into()),
        issuer: args.certificate_oidc_issuer.clone(),
        subject: args.certificate_identity.clone(),
        subject_regex: None,
        public_key: args.key.clone(),
    };
    let verifier =
        SignatureVerifier::new(vec![root], &[rule], Path::to_path_buf).map_err(Coded::from)?;
    let artifact = std::fs::read(&args.artifact)
        .with_context(|| format!("reading {}", args.artifact.display()))?;
    let bundle = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let signer = verifier.verify(&artifact, &bundle).map_err(Coded::from)?;
    let issuer = signer
        .issuer
        .as_deref()
        .map(|i| format!(" via {i}"))
        .unwrap_or_default();
    let at = signer.signed_at.as_deref().unwrap_or("unknown time");
    println!(
        "Verified OK: {} signed by {}{issuer} at {at}",
        args.artifact.display(),
        signer.identity
    );
    Ok(0)
}
