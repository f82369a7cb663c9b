//! Times each file of a corpus folder through its target: `replay_times TARGET DIR`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = spell_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == args[0])
        .expect("target")
        .1;
    for e in std::fs::read_dir(&args[1]).expect("dir") {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("file");
        let t = std::time::Instant::now();
        let ok = std::panic::catch_unwind(|| run(&data)).is_ok();
        println!(
            "{} {} {} {}",
            t.elapsed().as_micros(),
            data.len(),
            ok,
            p.display()
        );
    }
}
