//! A private certificate authority for tests: its root and the certificates it signs. Shared
//! by `#[path]` with the CLI's secured service test.

pub struct PrivateCa {
    pub root: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl PrivateCa {
    pub fn new() -> PrivateCa {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Spell test CA");
        let root = params.self_signed(&key).expect("CA certificate");
        PrivateCa {
            root,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `name` (a host name or an IP address) and its key.
    pub fn sign(&self, name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("certificate");
        (cert, key)
    }
}
