//! Replays every file of `corpus/<target>/` through its target (stable toolchain, no libFuzzer),
//! so a crash found once, once added to the corpus, stays fixed.

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, run) in spell_fuzz::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name} has no seed corpus");
        let (count, started) = (files.len(), std::time::Instant::now());
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("{name}: {} fails its target", file.display());
            }
        }
        eprintln!("{name}: {count} files in {:?}", started.elapsed());
    }
}
