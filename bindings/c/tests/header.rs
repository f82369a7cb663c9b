//! `include/spell.h` is generated: cbindgen over this crate's source, plus the error codes from
//! the spell-core catalog. This test regenerates it and fails when the checked-in copy differs;
//! `SPELL_BLESS=1 cargo test --release -p spell-capi --test header` rewrites it.

use cbindgen::{
    Builder, Config, DocumentationLength, DocumentationStyle, Language, SortKey, Style,
};
use spell_core::ErrorCode;

const PREAMBLE: &str = "\
/* spell.h: the C API of Spell, an embeddable runtime for verified WebAssembly spells.
 *
 * Generated from bindings/c/src by cbindgen (bindings/c/tests/header.rs); do not edit.
 * Regenerate: SPELL_BLESS=1 cargo test --release -p spell-capi --test header
 *
 * The rules every function follows (ownership, errors, views, callbacks, threads) are in
 * bindings/c/src/lib.rs and the README section \"C and Go\". In short: functions that can fail
 * return spell_error_t* (NULL on success) and write results to out-parameters; every handle a
 * function gives you is freed with its *_delete function; spell_str_t / spell_bytes_t views
 * borrow from the object they were read from and are not NUL-terminated. */";

/// `#define SPELL_ERROR_<NAME> <number>` for every catalog code.
fn error_codes() -> String {
    let mut out = String::from(
        "\n/* Error codes: the values of spell_error_code_t, from the Spell error catalog\n \
         * (docs/error-codes.md). spell_error_code_str() gives the public code, e.g. \"E-PKG-003\". */\n",
    );
    for c in ErrorCode::ALL {
        let name = c.name().to_uppercase();
        out.push_str(&format!(
            "#define SPELL_ERROR_{name} {} /* {}: {} */\n",
            c.as_u16(),
            c.code(),
            c.message()
        ));
    }
    out
}

fn generate() -> String {
    let config = Config {
        language: Language::C,
        header: Some(PREAMBLE.into()),
        include_guard: Some("SPELL_H".into()),
        cpp_compat: true,
        usize_is_size_t: true,
        style: Style::Both,
        sort_by: SortKey::Name,
        documentation: true,
        documentation_style: DocumentationStyle::C99,
        documentation_length: DocumentationLength::Full,
        after_includes: Some(error_codes()),
        ..Config::default()
    };
    let bindings = Builder::new()
        .with_config(config)
        .with_src(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn header_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/spell.h");
    let expected = generate();
    if std::env::var_os("SPELL_BLESS").is_some() {
        std::fs::write(path, &expected).expect("write include/spell.h");
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "bindings/c/include/spell.h is stale: run with SPELL_BLESS=1"
    );
}

#[test]
fn header_declares_every_error_code_and_entry_point() {
    let header = generate();
    for c in ErrorCode::ALL {
        assert!(
            header.contains(&format!(
                "#define SPELL_ERROR_{} {}",
                c.name().to_uppercase(),
                c.as_u16()
            )),
            "{c}"
        );
    }
    for f in [
        "spell_runtime_new(",
        "spell_load(",
        "spell_cast(",
        "spell_outcome_usage(",
        "spell_error_code(",
        "spell_error_delete(",
    ] {
        assert!(header.contains(f), "{f} is not declared");
    }
}
