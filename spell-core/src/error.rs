//! The error catalog: every refusal Spell can give, with a stable code.
//!
//! Each crate has its own `thiserror` enum with structured fields; every variant maps to one
//! [`ErrorCode`] here. Codes never change meaning once released: new failures get new codes.
//! Bindings (Python, Node, C/Go) expose the same `code` strings and never invent their own.
//!
//! To add a code: add a line to the `catalog!` invocation below and a case to `docs/error-codes.md`
//! (the `error_table_is_current` test regenerates that file and fails on a diff).

use std::fmt;

macro_rules! catalog {
    ($( $(#[doc = $doc:literal])* $variant:ident = $num:literal, $code:literal, $name:literal, $msg:literal; )*) => {
        /// A stable error code. `code()` is the public identifier (`E-PKG-003`), `name()` its
        /// snake_case twin, `message()` what to do about it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant = $num, )*
        }

        impl ErrorCode {
            /// Every code, in catalog order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable public code, e.g. `E-PKG-003`.
            pub const fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The stable snake_case name, e.g. `package_path_invalid`.
            pub const fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// A one-line description a user can act on.
            pub const fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $msg,)* }
            }

            /// The numeric value used across the C ABI.
            pub const fn as_u16(self) -> u16 {
                self as u16
            }

            /// The code for a numeric value, if there is one.
            pub fn from_u16(n: u16) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|c| c.as_u16() == n)
            }

            /// The code for a public code string (`E-PKG-003`) or a name (`package_path_invalid`).
            pub fn parse(s: &str) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|c| c.code() == s || c.name() == s)
            }
        }
    };
}

catalog! {
    /// The package file is larger than the configured cap.
    PackageTooLarge = 101, "E-PKG-001", "package_too_large", "the package exceeds the size cap; raise `max_package_bytes` in the policy or shrink the package";
    /// The package is not a well-formed ustar archive (truncated, garbage, bad checksum).
    PackageMalformed = 102, "E-PKG-002", "package_malformed", "the package is not a valid .spell archive; re-create it with `spell pack`";
    /// A member path is absolute, contains `..`, or is not one of the fixed member names.
    PackagePathInvalid = 103, "E-PKG-003", "package_path_invalid", "a package member has an unsafe path (absolute, `..`, or nested)";
    /// A member is a link, directory or device rather than a regular file.
    PackageEntryType = 104, "E-PKG-004", "package_entry_type", "a package member is not a regular file (links and directories are refused)";
    /// The same member appears twice.
    PackageDuplicateMember = 105, "E-PKG-005", "package_duplicate_member", "a package member appears more than once";
    /// A member other than the four known ones is present.
    PackageUnknownMember = 106, "E-PKG-006", "package_unknown_member", "the package has a member Spell does not know";
    /// Members are not in the canonical order.
    PackageMemberOrder = 107, "E-PKG-007", "package_member_order", "package members are out of order; re-create the package with `spell pack`";
    /// A required member (manifest, module, or an SBOM the manifest pins) is missing.
    PackageMissingMember = 108, "E-PKG-008", "package_missing_member", "a required package member is missing";
    /// A member is larger than its cap (module cap, manifest cap).
    PackageMemberTooLarge = 109, "E-PKG-009", "package_member_too_large", "a package member exceeds its size cap; raise `max_module_bytes` in the policy or shrink it";
    /// A member's sha256 differs from the one the manifest pins.
    PackageDigestMismatch = 110, "E-PKG-010", "package_digest_mismatch", "a member's sha256 differs from the manifest; the package was altered after packing";
    /// A member's size differs from the one the manifest pins.
    PackageSizeMismatch = 111, "E-PKG-011", "package_size_mismatch", "a member's size differs from the manifest; the package was altered after packing";
    /// Reading or writing package files failed.
    PackageIo = 112, "E-PKG-012", "package_io", "reading or writing package files failed";
    /// The module's header declares another kind (core module or component) than the
    /// manifest's `module.kind`.
    ModuleKindMismatch = 113, "E-PKG-013", "module_kind_mismatch", "the module is not of the kind spell.json states (`module.kind`: core or component); pack it again with `spell pack`, which detects the kind";

    /// `spell.json` is not valid JSON or has unknown or mistyped fields.
    ManifestParse = 201, "E-MAN-001", "manifest_parse", "spell.json is not a valid manifest; see the JSON Schema in schema/manifest.schema.json";
    /// The manifest parses but a value is invalid (name, version, license, entrypoint, path).
    ManifestInvalid = 202, "E-MAN-002", "manifest_invalid", "a manifest field has an invalid value";
    /// The manifest's `tool` section is malformed: no description, a schema that is not an object
    /// schema, not a valid JSON Schema, too large, or referring outside itself.
    ManifestToolInvalid = 203, "E-MAN-003", "manifest_tool_invalid", "the manifest's `tool` section is invalid; see `spell mcp` in README.md";

    /// The policy is not valid TOML or has unknown or mistyped fields.
    PolicyParse = 301, "E-POL-001", "policy_parse", "the policy is not valid; check it against examples/policy.toml";
    /// The policy parses but a value is invalid (bad pattern, unreadable referenced file).
    PolicyInvalid = 302, "E-POL-002", "policy_invalid", "a policy value is invalid";
    /// The spell asks for capabilities or limits the policy does not grant.
    CapabilityDenied = 303, "E-POL-003", "capability_denied", "the spell asks for capabilities or limits the policy does not grant";
    /// A cast asked for more than the spell's grant (limit above the grant, env or mount not granted).
    CastRequestDenied = 304, "E-POL-004", "cast_request_denied", "the cast request exceeds what the spell was granted";

    /// The spell is unsigned and the policy requires a signature.
    SignatureMissing = 401, "E-SIG-001", "signature_missing", "the spell is unsigned; sign it (`spell sign`) or set `allow_unsigned = true`";
    /// The Sigstore bundle could not be parsed or is structurally incomplete.
    BundleInvalid = 402, "E-SIG-002", "bundle_invalid", "the Sigstore bundle is malformed or incomplete";
    /// The signature, certificate chain, transparency log proof or timestamp did not verify.
    SignatureInvalid = 403, "E-SIG-003", "signature_invalid", "the signature does not verify against the trusted root";
    /// The signature is valid but no signer rule in the policy matches the signer.
    SignerNotTrusted = 404, "E-SIG-004", "signer_not_trusted", "the signer matches no signer rule in the policy";
    /// A trusted root or public key named by the policy could not be loaded.
    TrustRootInvalid = 405, "E-SIG-005", "trust_root_invalid", "a trusted root or key in the policy could not be loaded";
    /// Signing failed (bad key file, bad package).
    SigningFailed = 406, "E-SIG-006", "signing_failed", "signing failed";
    /// The signature is valid for other bytes: spell.json was changed after signing.
    SignatureArtifactMismatch = 407, "E-SIG-007", "signature_artifact_mismatch", "the signature does not cover this spell.json; the package was altered after signing, sign it again";
    /// A loaded spell was refused by a rescan: its casts fail until it is loaded again and accepted.
    SpellRevoked = 408, "E-SIG-008", "spell_revoked", "the spell was revoked by a rescan (the message names the refusal); fix the cause and load it again";
    /// The spell's digest is listed in the policy's `trust.revoked_digests`.
    DigestRevoked = 409, "E-SIG-009", "digest_revoked", "the spell's digest is in trust.revoked_digests; this release was withdrawn";
    /// The signer is listed in the policy's `trust.revoked_signers` (rule, identity or key).
    SignerRevoked = 410, "E-SIG-010", "signer_revoked", "the signer is in trust.revoked_signers; have the spell signed by a trusted signer";
    /// The signature was made before the policy's `trust.revoked_before` (or has no verified time).
    SignatureRevoked = 411, "E-SIG-011", "signature_revoked", "the signature was made before trust.revoked_before; sign the spell again with the rotated key";

    /// The policy requires an SBOM and the spell has none.
    SbomMissing = 501, "E-SBOM-001", "sbom_missing", "the policy requires an SBOM; add sbom.cdx.json to the package";
    /// The SBOM is not a valid CycloneDX document.
    SbomInvalid = 502, "E-SBOM-002", "sbom_invalid", "the SBOM is not a valid CycloneDX JSON document";
    /// The SBOM's metadata.component does not carry the module's sha256.
    SbomModuleMismatch = 503, "E-SBOM-003", "sbom_module_mismatch", "the SBOM does not describe this module (sha256 differs)";
    /// A license in the spell or its components is denied or not allowed.
    LicenseDenied = 504, "E-SBOM-004", "license_denied", "a license is denied by the policy";
    /// A component has a known vulnerability the policy refuses.
    VulnerabilityFound = 505, "E-SBOM-005", "vulnerability_found", "a component has a known vulnerability the policy refuses";
    /// The OSV database named by the policy could not be read.
    OsvDatabaseInvalid = 506, "E-SBOM-006", "osv_database_invalid", "the OSV database could not be read";

    /// The module exceeds the policy's module size cap.
    ModuleTooLarge = 601, "E-MOD-001", "module_too_large", "the module exceeds `max_module_bytes`";
    /// The module is not valid WebAssembly or failed to compile.
    ModuleInvalid = 602, "E-MOD-002", "module_invalid", "the module is not valid WebAssembly for this runtime";
    /// The module imports functions that are neither WASI nor granted host functions.
    ImportNotGranted = 603, "E-MOD-003", "import_not_granted", "the module imports functions the policy does not grant";
    /// The entrypoint export is missing or has parameters.
    EntrypointInvalid = 604, "E-MOD-004", "entrypoint_invalid", "the entrypoint is missing or is not a function without parameters";
    /// Compiling the module would exceed the runtime's compile budget.
    ModuleTooComplex = 605, "E-MOD-005", "module_too_complex", "compiling the module would exceed the runtime's compile budget (loops nested too deep, or too long a chain of branches); raise `compile_budget` if the module is trusted";

    /// No cast slot became free before the back-pressure deadline.
    Busy = 701, "E-RUN-001", "busy", "too many casts in flight; retry later or raise `max_concurrent_casts`";
    /// The runtime could not be configured (engine, pooling allocator, cache directory).
    RuntimeConfig = 702, "E-RUN-002", "runtime_config", "the runtime configuration is invalid";
    /// A host function registration is invalid (duplicate, reserved module).
    HostFunctionInvalid = 703, "E-RUN-003", "host_function_invalid", "a host function registration is invalid";
    /// A host hook (authorize, record, a host function) failed.
    HookFailed = 704, "E-RUN-004", "hook_failed", "a host hook failed";
    /// The cast could not be set up (a preopened directory could not be opened, bad argument).
    CastSetup = 705, "E-RUN-005", "cast_setup", "the cast could not be set up";
    /// An input is invalid (bad argument to an API call or a binding).
    InvalidArgument = 706, "E-RUN-006", "invalid_argument", "an argument is invalid";
    /// A bug in Spell: a panic was caught at a binding boundary instead of unwinding into the host.
    Internal = 707, "E-RUN-007", "internal", "Spell hit an internal error (a bug); please report it with the message";
    /// The authorize hook refused the cast (the code of a refusal a C or Go hook returns).
    Denied = 708, "E-RUN-008", "denied", "the authorize hook refused the cast";

    /// The requested URL's host, scheme or port is not granted.
    NetNotGranted = 801, "E-NET-001", "net_not_granted", "the URL is not granted to this spell";
    /// The host resolves to a blocked address (loopback, private, link-local, metadata).
    NetAddressBlocked = 802, "E-NET-002", "net_address_blocked", "the host resolves to a blocked address (SSRF guard)";
    /// A network cap (requests, bytes in or out, response size) was reached.
    NetLimit = 803, "E-NET-003", "net_limit", "a network limit was reached";
    /// The request timed out.
    NetTimeout = 804, "E-NET-004", "net_timeout", "the request timed out";
    /// The guest passed a malformed request (bad URL, method, headers, memory range).
    NetRequestInvalid = 805, "E-NET-005", "net_request_invalid", "the request is malformed";
    /// Connecting, TLS or the HTTP exchange failed.
    NetTransport = 806, "E-NET-006", "net_transport", "the connection or HTTP exchange failed";

    /// The ledger account cannot pay the minimum of a cast (its budget or balance is spent): the
    /// HTTP 402 case.
    BillBudgetExhausted = 901, "E-BILL-001", "bill_budget_exhausted", "the account cannot pay for this cast; raise its budget, top up its balance or wait for the next period";
    /// The account named for a cast is not in the ledger.
    BillAccountUnknown = 902, "E-BILL-002", "bill_account_unknown", "the account is not in the ledger; add it with `spell ledger account set`";
    /// The price list is not valid TOML, has unknown fields, or a value is out of range.
    BillPricesInvalid = 903, "E-BILL-003", "bill_prices_invalid", "the price list is invalid; check it against examples/prices.toml";
    /// The ledger's hash chain is broken, or its head differs from a signed one: a row was
    /// changed, removed or inserted behind the ledger's back.
    LedgerTampered = 904, "E-BILL-004", "ledger_tampered", "the ledger was altered outside Spell; `spell ledger verify` names the first broken row";
    /// The ledger database could not be opened, read or written (not a ledger, disk full, I/O).
    LedgerStorage = 905, "E-BILL-005", "ledger_storage", "the ledger database could not be read or written";
    /// The NATS server could not be reached (address, credentials or TLS refused).
    ServiceUnreachable = 1001, "E-SVC-001", "service_unreachable", "the NATS server could not be reached; check `--nats`, the credentials and TLS settings";
    /// A stream, bucket or consumer of service mode does not exist.
    ServiceStreamMissing = 1002, "E-SVC-002", "service_stream_missing", "a service-mode stream or bucket is missing; start a worker (`spell worker`) to create them";
    /// A cast request is larger than the service's cap.
    ServiceRequestTooLarge = 1003, "E-SVC-003", "service_request_too_large", "the cast request exceeds the size cap; send less stdin or fewer arguments";
    /// No package with the requested digest is published.
    ServiceUnknownSpell = 1004, "E-SVC-004", "service_unknown_spell", "no package with this digest is published; run `spell publish` first";
    /// A cast request is malformed (bad JSON, tenant, idempotency key, digest).
    ServiceRequestInvalid = 1005, "E-SVC-005", "service_request_invalid", "the cast request is malformed; see schema/cast-request.schema.json";
    /// A NATS operation (publish, acknowledgement, key-value, object store) failed.
    ServiceTransport = 1006, "E-SVC-006", "service_transport", "a NATS operation failed; it is safe to retry with the same idempotency key";
    /// No result arrived before the caller's deadline.
    ServiceTimeout = 1007, "E-SVC-007", "service_timeout", "no result before the deadline; the cast may still complete, query its status";
    /// No cast with this id is known.
    ServiceUnknownCast = 1008, "E-SVC-008", "service_unknown_cast", "no cast with this id is known";
    /// The cast was retried as often as allowed and moved to the dead-letter stream.
    ServiceAttemptsExhausted = 1009, "E-SVC-009", "service_attempts_exhausted", "the cast failed on every attempt and was dead-lettered";
    /// Connection options are invalid (unreadable credentials file, certificate or key).
    ServiceConnectOptions = 1010, "E-SVC-010", "service_connect_options", "the NATS connection options are invalid (credentials, certificates)";
    /// The cast finished, but its result is past the service's retention and gone.
    ServiceResultExpired = 1011, "E-SVC-011", "service_result_expired", "the cast finished but its result is past the retention (`spell worker --retention`); its usage entry is in the usage stream";

    /// A tool call's arguments do not match the tool's input schema (`spell mcp`).
    ToolArgumentsInvalid = 1101, "E-MCP-001", "tool_arguments_invalid", "the tool's arguments do not match its input schema; fix them and call again";
    /// A tool call names no tool the server offers.
    ToolUnknown = 1102, "E-MCP-002", "tool_unknown", "no tool by this name is offered; list the tools again";
    /// A tool with an output schema wrote stdout that is not JSON matching it.
    ToolOutputInvalid = 1103, "E-MCP-003", "tool_output_invalid", "the spell's output does not match its declared output schema; report it to the spell's maker";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Anything that carries a catalog code. Every library error type implements it.
pub trait HasCode {
    /// The stable code of this error.
    fn code(&self) -> ErrorCode;
}

/// The Markdown table of every code, as kept in `docs/error-codes.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "# Spell error codes\n\nGenerated from `spell-core/src/error.rs`; do not edit by hand.\n\n\
         | code | name | meaning |\n|---|---|---|\n",
    );
    for c in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            c.code(),
            c.name(),
            c.message()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_names_and_numbers_are_unique() {
        let n = ErrorCode::ALL.len();
        let codes: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        let nums: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_u16()).collect();
        assert_eq!((codes.len(), names.len(), nums.len()), (n, n, n));
    }

    #[test]
    fn codes_round_trip_and_follow_the_pattern() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u16(c.as_u16()), Some(*c));
            assert_eq!(ErrorCode::parse(c.code()), Some(*c));
            assert_eq!(ErrorCode::parse(c.name()), Some(*c));
            let parts: Vec<_> = c.code().split('-').collect();
            assert_eq!(parts.len(), 3, "{c}");
            assert_eq!(parts[0], "E");
            assert_eq!(parts[2].len(), 3, "{c}");
            assert!(
                c.name()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_')
            );
            assert!(!c.message().is_empty());
        }
    }

    #[test]
    fn error_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/error-codes.md");
        let expected = markdown_table();
        if std::env::var_os("SPELL_BLESS").is_some() {
            std::fs::write(path, &expected).expect("write docs/error-codes.md");
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "docs/error-codes.md is stale: run with SPELL_BLESS=1"
        );
    }
}
