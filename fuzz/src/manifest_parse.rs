//! `Manifest::from_json` on arbitrary bytes. Oracle: an accepted manifest's own JSON parses
//! back to the same manifest.

use spell_core::Manifest;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(m) = Manifest::from_json(data) else {
        return;
    };
    let again = Manifest::from_json(&m.to_json()).expect("an accepted manifest's JSON parses");
    assert_eq!(again, m);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_manifest_round_trips() {
        super::run(&crate::fixtures::hello_package().manifest_bytes);
    }
}
