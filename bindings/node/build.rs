//! Links the addon against Node-API the way napi-rs needs.
fn main() {
    napi_build::setup();
}
