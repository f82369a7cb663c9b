//! `Policy::from_toml` and `Policy::grant` on arbitrary input: a policy's TOML, optionally
//! followed by a NUL byte and a manifest's JSON (else a manifest asking for one of everything).
//! Oracles: a grant stays within both the policy and the manifest, with limits within the
//! policy's ceilings; a refusal names at least one item.

use spell_core::capability::name_matches;
use spell_core::{Manifest, Policy};

/// Asks for env, a read-write mount, network, a host function and limits.
const MANIFEST: &str = r#"{"name":"fuzz","version":"1.0.0","license":"MIT",
  "module":{"path":"module.wasm","sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3},
  "capabilities":{"env":["LANG","HELLO_NAME"],"mounts":[{"guest":"/data","access":"rw"}],
                  "network":["https://api.example.com"],"host_functions":["kv::get"]},
  "limits":{"memory_bytes":16777216,"fuel":100000000,"wall_time_ms":2000}}"#;

/// Runs one input.
pub fn run(data: &[u8]) {
    let (policy, manifest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Manifest::from_json(&data[i + 1..]).ok()),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(policy) else {
        return;
    };
    let Ok(policy) = Policy::from_toml(text) else {
        return;
    };
    let manifest = manifest.unwrap_or_else(|| {
        Manifest::from_json(MANIFEST.as_bytes()).expect("the built-in manifest parses")
    });
    policy.digest();
    match policy.grant(&manifest) {
        Ok(grant) => {
            let allow = &policy.capabilities;
            assert!(
                grant
                    .env
                    .iter()
                    .all(|e| allow.env.iter().any(|p| name_matches(p, e)))
            );
            assert!(
                grant
                    .host_functions
                    .iter()
                    .all(|f| allow.host_functions.iter().any(|p| name_matches(p, f)))
            );
            assert!(grant.mounts.iter().all(|m| {
                allow
                    .mounts
                    .iter()
                    .any(|a| a.guest == m.guest && a.access >= m.access)
            }));
            assert!(
                grant
                    .network
                    .iter()
                    .all(|n| allow.network.iter().any(|a| a.covers(n)))
            );
            let (_, max) = policy.limit_bounds();
            let (g, asked) = (grant.limits, manifest.limits);
            for (granted, ceiling, asked) in [
                (g.memory_bytes, max.memory_bytes, asked.memory_bytes),
                (g.fuel, max.fuel, asked.fuel),
                (g.wall_time_ms, max.wall_time_ms, asked.wall_time_ms),
                (g.output_bytes, max.output_bytes, asked.output_bytes),
                (g.net_requests, max.net_requests, asked.net_requests),
                (g.net_bytes, max.net_bytes, asked.net_bytes),
                (g.open_files, max.open_files, asked.open_files),
                (
                    g.disk_write_bytes,
                    max.disk_write_bytes,
                    asked.disk_write_bytes,
                ),
            ] {
                assert!(
                    granted <= ceiling,
                    "granted {granted} over the ceiling {ceiling}"
                );
                assert!(
                    asked.is_none_or(|a| a == granted),
                    "asked {asked:?}, granted {granted}"
                );
            }
        }
        Err(denied) => assert!(!denied.items.is_empty(), "a refusal without items"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_policy_grants_within_itself() {
        super::run(include_bytes!("../../examples/policy.toml"));
    }
}
