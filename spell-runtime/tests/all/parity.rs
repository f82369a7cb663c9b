//! The cross-language parity suite: every scenario of `bindings/parity/scenarios.json` cast here,
//! its outcome in the shared JSON shape with the volatile fields removed, must equal
//! `bindings/parity/expected.json` (`SPELL_BLESS=1` rewrites it). Python, Node and Go run the same
//! scenarios and compare with the same file, so each field matches the Rust run in every language.

use serde_json::{Map, Value, json};
use spell_core::{Limits, Policy};
use spell_runtime::{
    Allowance, CancelHandle, CastContext, CastRequest, Denied, Event, HookError, HostError,
    HostFunction, MeteringHook, Runtime, UsageRecord, ValType,
};
use std::path::PathBuf;
use std::sync::Arc;

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bindings/parity")
}

/// A meter failing or refusing as a scenario's `meter` says.
struct ScenarioMeter(Map<String, Value>);

impl ScenarioMeter {
    fn says(&self, hook: &str, what: &str) -> bool {
        self.0.get(hook).and_then(Value::as_str) == Some(what)
    }
}

impl MeteringHook for ScenarioMeter {
    fn authorize(&self, _: &CastContext<'_>) -> Result<Allowance, Denied> {
        if self.says("authorize", "deny") {
            return Err(Denied::new("parity: no budget"));
        }
        if self.says("authorize", "fail") {
            return Err(Denied::failed(HookError::new(
                "authorize",
                "parity: budget store down",
            )));
        }
        Ok(Allowance::default())
    }

    fn observe(&self, _: &Event) -> Result<(), HookError> {
        match self.says("observe", "fail") {
            true => Err(HookError::new("observe", "parity: event sink down")),
            false => Ok(()),
        }
    }

    fn record(&self, _: &UsageRecord) -> Result<(), HookError> {
        match self.says("record", "fail") {
            true => Err(HookError::new("record", "parity: ledger down")),
            false => Ok(()),
        }
    }
}

/// Removes each dotted path of `paths` from `v`.
fn without(mut v: Value, paths: &[Value]) -> Value {
    for path in paths.iter().filter_map(Value::as_str) {
        let mut keys: Vec<&str> = path.split('.').collect();
        let last = keys.pop().unwrap_or_default();
        let parent = keys.iter().try_fold(&mut v, |at, k| at.get_mut(*k));
        if let Some(Value::Object(m)) = parent {
            m.remove(last);
        }
    }
    v
}

#[test]
fn every_scenario_gives_the_expected_outcome() {
    let dir = parity_dir();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    let suite: Value = serde_json::from_str(&read("scenarios.json")).expect("scenarios.json");
    let failure = suite["host_failure"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rt = Runtime::builder()
        .host_function(HostFunction::new(
            "parity",
            "fail",
            [],
            [ValType::I32],
            move |_, _| Err(HostError::new(failure.clone())),
        ))
        .build()
        .expect("runtime");
    let package = spell_core::Package::pack(
        suite["manifest"].to_string().as_bytes(),
        &wat::parse_str(read("guest.wat")).expect("guest.wat"),
        None,
        None,
    )
    .expect("pack");
    let policy = Policy::from_toml(suite["policy"].as_str().unwrap_or_default()).expect("policy");
    let spell = rt.load(&package, &policy).expect("load");
    let empty = Vec::new();
    let volatile = suite["volatile"].as_array().unwrap_or(&empty);
    let mut outcomes = Map::new();
    for s in suite["scenarios"].as_array().unwrap_or(&empty) {
        let mut request = CastRequest::new();
        if let Some(export) = s["export"].as_str() {
            request = request.export(export);
        }
        if let Some(limits) = s.get("limits") {
            let limits: Limits = serde_json::from_value(limits.clone()).expect("limits");
            request = request.limits(limits);
        }
        if let Some(Value::Object(meter)) = s.get("meter") {
            request = request.meter(Arc::new(ScenarioMeter(meter.clone())));
        }
        if s["cancel"] == json!(true) {
            let cancel = CancelHandle::new();
            cancel.cancel();
            request = request.cancel(cancel);
        }
        let o = spell.cast(request).expect("cast");
        let shape = serde_json::to_value(o.json()).expect("json");
        let own = s["volatile"].as_array().unwrap_or(&empty);
        let name = s["name"].as_str().unwrap_or_default().to_string();
        outcomes.insert(name, without(without(shape, volatile), own));
    }
    let actual = serde_json::to_string_pretty(&Value::Object(outcomes)).expect("json") + "\n";
    let path = dir.join("expected.json");
    if std::env::var_os("SPELL_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write expected.json");
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        actual,
        "bindings/parity/expected.json differs: run with SPELL_BLESS=1 if the change is meant"
    );
}
