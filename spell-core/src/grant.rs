//! Grant computation: what a spell asks for, intersected with what the policy allows.
//!
//! The result is either the effective [`Grant`] or a refusal listing every denied item, so a
//! maker sees all that must change at once.
//!
//! ```
//! use spell_core::{Manifest, Policy};
//! let manifest = Manifest::from_json(br#"{"name":"a","version":"1.0.0","license":"MIT",
//!   "module":{"path":"module.wasm","size":1,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
//!   "capabilities":{"env":["HOME","APP_MODE"]}}"#).unwrap();
//! let policy = Policy::from_toml("[capabilities]\nenv = [\"APP_*\"]").unwrap();
//! let denied = policy.grant(&manifest).unwrap_err();
//! assert_eq!(denied.items.len(), 1);
//! assert_eq!(denied.items[0].item, "HOME");
//! ```

use crate::capability::{Access, HostPattern, Mount, name_matches};
use crate::error::{ErrorCode, HasCode};
use crate::manifest::{Limits, Manifest};
use crate::policy::{EffectiveLimits, LimitPolicy, Policy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What one spell may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Environment variable names a cast may pass.
    pub env: Vec<String>,
    /// Guest directories a cast may mount, with their most permissive access.
    pub mounts: Vec<Mount>,
    /// Network destinations.
    pub network: Vec<HostPattern>,
    /// Host functions (`module::name`) the module may import.
    pub host_functions: Vec<String>,
    /// Limits for each cast (a cast may only lower them).
    pub limits: EffectiveLimits,
}

/// One thing the policy would not grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedItem {
    /// `env`, `mount`, `network`, `host_function` or `limit`.
    pub kind: String,
    /// The item as the spell asked for it.
    pub item: String,
    /// Why it was refused.
    pub reason: String,
}

/// The spell asks for things the policy does not grant: every one of them is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct GrantDenied {
    /// Every denied item.
    pub items: Vec<DeniedItem>,
}

impl fmt::Display for GrantDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the policy denies {} requested item(s):",
            self.items.len()
        )?;
        for i in &self.items {
            write!(f, " [{} `{}`: {}]", i.kind, i.item, i.reason)?;
        }
        Ok(())
    }
}

impl HasCode for GrantDenied {
    fn code(&self) -> ErrorCode {
        ErrorCode::CapabilityDenied
    }
}

impl Policy {
    /// A policy that trusts `manifest` wholesale: unsigned allowed, exactly its requested
    /// capabilities, its requested limits (or the built-in defaults). For a developer casting
    /// their own spell (`spell cast` without `--policy`), never for strangers' spells.
    pub fn trusting(manifest: &Manifest) -> Policy {
        let (builtin, _) = Policy::default().limit_bounds();
        let r = &manifest.limits;
        let most =
            |asked: Option<u64>, builtin: u64| Some(asked.map_or(builtin, |a| a.max(builtin)));
        Policy {
            allow_unsigned: true,
            capabilities: manifest.capabilities.clone(),
            limits: LimitPolicy {
                default: Limits::default(),
                max: Limits {
                    memory_bytes: most(r.memory_bytes, builtin.memory_bytes),
                    fuel: most(r.fuel, builtin.fuel),
                    wall_time_ms: most(r.wall_time_ms, builtin.wall_time_ms),
                    output_bytes: most(r.output_bytes, builtin.output_bytes),
                    net_requests: most(r.net_requests, builtin.net_requests),
                    net_bytes: most(r.net_bytes, builtin.net_bytes),
                    open_files: most(r.open_files, builtin.open_files),
                    disk_write_bytes: most(r.disk_write_bytes, builtin.disk_write_bytes),
                },
            },
            ..Policy::default()
        }
    }

    /// Intersects what `manifest` asks for with what this policy allows.
    pub fn grant(&self, manifest: &Manifest) -> Result<Grant, GrantDenied> {
        let want = &manifest.capabilities;
        let allow = &self.capabilities;
        let mut denied = Vec::new();
        let mut deny = |kind: &str, item: String, reason: &str| {
            denied.push(DeniedItem {
                kind: kind.into(),
                item,
                reason: reason.into(),
            })
        };
        for name in &want.env {
            if !allow.env.iter().any(|p| name_matches(p, name)) {
                deny("env", name.clone(), "not in the policy's env list");
            }
        }
        for m in &want.mounts {
            match allow
                .mounts
                .iter()
                .filter(|a| a.guest == m.guest)
                .map(|a| a.access)
                .max()
            {
                None => deny("mount", m.guest.clone(), "guest path not granted"),
                Some(Access::Ro) if m.access == Access::Rw => deny(
                    "mount",
                    m.guest.clone(),
                    "granted read-only, asked read-write",
                ),
                Some(_) => {}
            }
        }
        for n in &want.network {
            if !allow.network.iter().any(|a| a.covers(n)) {
                deny(
                    "network",
                    n.to_string(),
                    "no granted host pattern covers it",
                );
            }
        }
        for f in &want.host_functions {
            if !allow.host_functions.iter().any(|p| name_matches(p, f)) {
                deny(
                    "host_function",
                    f.clone(),
                    "not in the policy's host_functions list",
                );
            }
        }
        let limits = self.effective_limits(&manifest.limits, &mut deny);
        if denied.is_empty() {
            Ok(Grant {
                env: want.env.clone(),
                mounts: want.mounts.clone(),
                network: want.network.clone(),
                host_functions: want.host_functions.clone(),
                limits,
            })
        } else {
            Err(GrantDenied { items: denied })
        }
    }

    fn effective_limits(
        &self,
        want: &Limits,
        deny: &mut impl FnMut(&str, String, &str),
    ) -> EffectiveLimits {
        let (default, max) = self.limit_bounds();
        let mut pick = |name: &str, asked: Option<u64>, default: u64, max: u64| match asked {
            Some(a) if a > max => {
                deny(
                    "limit",
                    format!("{name} = {a}"),
                    &format!("above the policy ceiling {max}"),
                );
                max
            }
            Some(a) => a,
            None => default,
        };
        EffectiveLimits {
            memory_bytes: pick(
                "memory_bytes",
                want.memory_bytes,
                default.memory_bytes,
                max.memory_bytes,
            ),
            fuel: pick("fuel", want.fuel, default.fuel, max.fuel),
            wall_time_ms: pick(
                "wall_time_ms",
                want.wall_time_ms,
                default.wall_time_ms,
                max.wall_time_ms,
            ),
            output_bytes: pick(
                "output_bytes",
                want.output_bytes,
                default.output_bytes,
                max.output_bytes,
            ),
            net_requests: pick(
                "net_requests",
                want.net_requests,
                default.net_requests,
                max.net_requests,
            ),
            net_bytes: pick(
                "net_bytes",
                want.net_bytes,
                default.net_bytes,
                max.net_bytes,
            ),
            open_files: pick(
                "open_files",
                want.open_files,
                default.open_files,
                max.open_files,
            ),
            disk_write_bytes: pick(
                "disk_write_bytes",
                want.disk_write_bytes,
                default.disk_write_bytes,
                max.disk_write_bytes,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::DEFAULT_LIMITS;

    fn manifest(caps_and_limits: &str) -> Manifest {
        let json = format!(
            r#"{{"name":"a","version":"1.0.0","license":"MIT",
               "module":{{"path":"module.wasm","size":1,"sha256":"{}"}}{caps_and_limits}}}"#,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        Manifest::from_json(json.as_bytes()).expect("manifest")
    }

    const POLICY: &str = r#"
        [capabilities]
        env = ["LANG", "APP_*"]
        mounts = [{ guest = "/data", access = "ro" }, { guest = "/out", access = "rw" }]
        network = ["https://*.example.com", "http://127.0.0.1:*"]
        host_functions = ["env::log", "kv::*"]
        [limits.default]
        memory_bytes = 1048576
        fuel = 500
        [limits.max]
        memory_bytes = 4194304
        fuel = 1000
    "#;

    #[test]
    fn nothing_asked_gets_policy_defaults() {
        let g = Policy::from_toml(POLICY)
            .expect("policy")
            .grant(&manifest(""))
            .expect("grant");
        assert!(
            g.env.is_empty()
                && g.mounts.is_empty()
                && g.network.is_empty()
                && g.host_functions.is_empty()
        );
        assert_eq!(g.limits.memory_bytes, 1 << 20);
        assert_eq!(g.limits.fuel, 500);
        assert_eq!(g.limits.wall_time_ms, DEFAULT_LIMITS.wall_time_ms);
    }

    #[test]
    fn granted_requests_pass_through() {
        let m = manifest(
            r#","capabilities":{"env":["LANG","APP_X"],"mounts":[{"guest":"/data"},{"guest":"/out","access":"rw"}],
                "network":["https://api.example.com","http://127.0.0.1:8080"],"host_functions":["env::log","kv::get"]},
               "limits":{"memory_bytes":2097152,"fuel":900}"#,
        );
        let g = Policy::from_toml(POLICY)
            .expect("policy")
            .grant(&m)
            .expect("grant");
        assert_eq!(g.env, ["LANG", "APP_X"]);
        assert_eq!(g.mounts.len(), 2);
        assert_eq!(g.network.len(), 2);
        assert_eq!(g.limits.memory_bytes, 2 << 20);
        assert_eq!(g.limits.fuel, 900);
    }

    #[test]
    fn every_denied_item_is_listed() {
        let m = manifest(
            r#","capabilities":{"env":["HOME"],"mounts":[{"guest":"/data","access":"rw"},{"guest":"/etc"}],
                "network":["https://example.com","http://127.0.0.1:9"],"host_functions":["env::exit"]},
               "limits":{"memory_bytes":8388608}"#,
        );
        let denied = Policy::from_toml(POLICY)
            .expect("policy")
            .grant(&m)
            .expect_err("denied");
        let kinds: Vec<_> = denied
            .items
            .iter()
            .map(|i| (i.kind.as_str(), i.item.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("env", "HOME"),
                ("mount", "/data"),
                ("mount", "/etc"),
                ("network", "https://example.com"),
                ("host_function", "env::exit"),
                ("limit", "memory_bytes = 8388608"),
            ]
        );
        assert_eq!(denied.code(), ErrorCode::CapabilityDenied);
        assert!(denied.to_string().contains("6 requested item(s)"));
    }

    #[test]
    fn trusting_policy_grants_exactly_what_is_asked() {
        let m = manifest(
            r#","capabilities":{"env":["A"],"mounts":[{"guest":"/d","access":"rw"}]},"limits":{"fuel":7,"memory_bytes":1073741824}"#,
        );
        let g = Policy::trusting(&m).grant(&m).expect("grant");
        assert_eq!(g.env, ["A"]);
        assert_eq!(g.mounts[0].access, Access::Rw);
        assert_eq!((g.limits.fuel, g.limits.memory_bytes), (7, 1 << 30));
        assert_eq!(g.limits.wall_time_ms, DEFAULT_LIMITS.wall_time_ms);
    }

    #[test]
    fn empty_policy_denies_every_capability() {
        let m = manifest(r#","capabilities":{"env":["A"],"network":["https://x.org"]}"#);
        assert_eq!(
            Policy::default()
                .grant(&m)
                .expect_err("deny all")
                .items
                .len(),
            2
        );
    }
}
