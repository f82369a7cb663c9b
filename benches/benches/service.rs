//! Service mode under load: casts of `examples/hello/hello.spell` through in-process workers on
//! a local `nats-server -js` (file storage in a temp dir), against in-process casts of the same
//! spell. Not criterion: prints one line per scenario.
//!
//! - the floors: the same casts through a bare JetStream work queue on the same server
//!   (`service/raw_jetstream.rs`), and through the server operations issue 13 requires made
//!   with nothing of Spell's (`service/required_ops.rs`), closed and open loop;
//! - throughput: `SPELL_BENCH_CASTS` (default 10,000) casts submitted with 256 outstanding,
//!   through 1 and 2 workers: casts/s and submit-to-result latency percentiles;
//! - open loop: casts offered at a fixed rate (`SPELL_BENCH_RATE`, default 1,000/s) for 5 s;
//! - crash: 2 workers, one stopped abruptly (its runtime dropped: no acks, no drain, connection
//!   gone, as a killed process) halfway; then the usage stream is counted: zero lost casts,
//!   exactly one `cast` usage entry per cast id.
//!
//! The process's resident memory is printed after each scenario (workers, client and casts share
//! the process). Last, when the `spell` binary is built beside this one (`cargo build --release
//! -p spell-cli`), a `spell worker` process takes `SPELL_BENCH_CASTS` more casts after 1,000 to
//! warm up, and its own resident memory is printed along the way; then it takes the open loop,
//! from one client and then from `WAITING_CLIENTS` clients (connections) at once, with the
//! server's CPU time a cast. Then the open loop is held on a server of its own until what the
//! server keeps stops growing (`steady_state`), through both floors and Spell.
//!
//! The server inherits the bench's environment: `GOGC=off GOMEMLIMIT=1GiB cargo bench ...` runs
//! it with its garbage collector tuned (which moves the open loop's p99, `benches/README.md`).

use spell_benches::measure::{env_count, percentile};
use spell_core::Policy;
use spell_runtime::{CastRequest, Runtime, Spell};
use spell_service::{Billed, CastJob, Client, NatsOptions, ServiceConfig, Worker};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "service/raw_jetstream.rs"]
mod raw_jetstream;
#[path = "service/required_ops.rs"]
mod required_ops;

#[path = "../../spell-service/tests/support/nats_server.rs"]
#[expect(dead_code, reason = "restarting the server is for the tests")]
mod nats_server;

const OUTSTANDING: usize = 256;
const WORKER_CONCURRENCY: usize = 64;
/// The clients of the many-clients open loop: platform services waiting for casts at once.
const WAITING_CLIENTS: usize = 8;
/// The bare queue's worker thread, by name, so its CPU time can be read.
const RAW_WORKER_THREAD: &str = "raw-worker";
/// The required operations' worker thread, by name.
const REQUIRED_WORKER_THREAD: &str = "required-worker";
/// Spell's in-process workers' threads, by name.
const SPELL_WORKER_THREAD: &str = "spell-worker";
/// The clients' thread, by name.
const CLIENT_THREAD: &str = "bench-client";
/// Set to some of `raw_jetstream,required_ops,spell`, the bench holds only their steady state
/// (a tuning loop's minute instead of the whole run's five).
const STEADY_ONLY: &str = "SPELL_BENCH_STEADY_ONLY";

fn policy() -> Policy {
    Policy::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml").as_ref())
        .expect("policy")
}

/// The resident memory of process `pid` (`self` for this one).
fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The CPU time process `pid` has used so far (user and system, all threads).
fn cpu_time(pid: &str) -> Duration {
    cpu_time_of(&format!("/proc/{pid}/stat"))
}

/// The `nats-server` process of `server` (found by its port on its command line).
fn server_pid(server: &nats_server::NatsServer) -> Option<String> {
    let url = server.url();
    let port = url.rsplit(':').next()?;
    let processes = std::fs::read_dir("/proc").ok()?.flatten();
    processes
        .filter_map(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves = args.iter().any(|a| a.ends_with(b"nats-server"))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
            serves.then(|| p.file_name().to_string_lossy().into_owned())
        })
        .next()
}

/// The worker's CPU time a cast over a scenario, and the casts a second it would make with a
/// core of its own.
fn print_worker_cpu(scenario: &str, cpu: Duration, casts: usize) {
    println!(
        "service/{scenario}: {:.1} µs of the worker's CPU a cast ({:.0} casts per second of its \
         CPU)",
        cpu.as_secs_f64() * 1e6 / casts as f64,
        casts as f64 / cpu.as_secs_f64(),
    );
}

/// The server's CPU time a cast over a scenario (its idle spinning between casts included).
fn print_server_cpu(scenario: &str, cpu: Duration, casts: usize) {
    println!(
        "service/{scenario}: {:.1} µs of the server's CPU a cast",
        cpu.as_secs_f64() * 1e6 / casts as f64
    );
}

/// The CPU time this process's threads named `name` have used so far.
fn threads_cpu_time(name: &str) -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    tasks
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| cpu_time_of(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// The user and system time in a `/proc` `stat` file.
fn cpu_time_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |t| t.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A worker on its own 1-thread tokio runtime, so it can be stopped abruptly.
struct WorkerHandle {
    runtime: Option<tokio::runtime::Runtime>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
    finished: Option<std::sync::mpsc::Receiver<()>>,
}

impl WorkerHandle {
    fn start(url: &str, id: &str, config: ServiceConfig, runtime: &Runtime) -> WorkerHandle {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(SPELL_WORKER_THREAD)
            .enable_all()
            .build()
            .expect("tokio");
        let (done, stop) = tokio::sync::oneshot::channel::<()>();
        let (finished_tx, finished) = std::sync::mpsc::channel();
        let (url, id, runtime) = (url.to_string(), id.to_string(), runtime.clone());
        let worker = rt.block_on(async move {
            let connection = NatsOptions::new(url).connect().await.expect("connect");
            let worker = Worker::builder(connection, runtime, policy())
                .concurrency(WORKER_CONCURRENCY)
                .id(id)
                .config(config)
                .build();
            worker.ensure().await.expect("streams");
            worker
        });
        rt.spawn(async move {
            worker
                .run(async {
                    let _ = stop.await;
                })
                .await
                .expect("worker");
            let _ = finished_tx.send(());
        });
        WorkerHandle {
            runtime: Some(rt),
            done: Some(done),
            finished: Some(finished),
        }
    }

    /// A baseline's worker (`raw_jetstream`, `required_ops`) on a thread named `thread`, stopped
    /// when the handle is dropped.
    fn start_baseline(
        thread: &str,
        worker: impl Future<Output = ()> + Send + 'static,
    ) -> WorkerHandle {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread)
            .enable_all()
            .build()
            .expect("tokio");
        rt.spawn(worker);
        WorkerHandle {
            runtime: Some(rt),
            done: None,
            finished: None,
        }
    }

    /// Drains and stops.
    fn stop(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Some(f) = self.finished.take() {
            let _ = f.recv_timeout(Duration::from_secs(60));
        }
    }

    /// Stops at once: in-flight requests are neither acked nor naked.
    fn crash(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

struct Figures {
    casts: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&self, scenario: &str) {
        let mut l = self.latencies.clone();
        l.sort();
        println!(
            "service/{scenario}: {} casts in {:.2} s = {:.0} casts/s; submit-to-result p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms; RSS {:.0} MiB",
            self.casts,
            self.elapsed.as_secs_f64(),
            self.casts as f64 / self.elapsed.as_secs_f64(),
            percentile(&l, 50).as_secs_f64() * 1e3,
            percentile(&l, 90).as_secs_f64() * 1e3,
            percentile(&l, 99).as_secs_f64() * 1e3,
            rss_mib("self"),
        );
    }
}

/// One cast through a queue, by its index: resolves when its result is in.
type Cast = Box<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>>>;

/// Casts of the hello spell through Spell's service, with keys `prefix-i`, the `i`th from
/// `clients[i % clients.len()]`.
fn through_spell(clients: &[Client], digest: &str, prefix: &str) -> Cast {
    let (clients, digest, prefix) = (clients.to_vec(), digest.to_string(), prefix.to_string());
    Box::new(move |i| {
        let (client, job) = (
            clients[i % clients.len()].clone(),
            CastJob::new(&digest, "bench", format!("{prefix}-{i}")).arg("bench"),
        );
        Box::pin(async move {
            let result = client
                .cast(&job, Duration::from_secs(120))
                .await
                .expect("cast");
            assert_eq!(result.stdout, b"Hello, bench!\n");
        })
    })
}

/// A baseline queue's client (`raw_jetstream`, `required_ops`): casts the hello spell by id.
trait Baseline: Clone + Send + Sync + 'static {
    fn cast(&self, id: &str, arg: &str) -> impl Future<Output = Vec<u8>> + Send;
}

impl Baseline for raw_jetstream::Client {
    fn cast(&self, id: &str, arg: &str) -> impl Future<Output = Vec<u8>> + Send {
        raw_jetstream::Client::cast(self, id, arg)
    }
}

impl Baseline for required_ops::Client {
    fn cast(&self, id: &str, arg: &str) -> impl Future<Output = Vec<u8>> + Send {
        required_ops::Client::cast(self, id, arg)
    }
}

/// Casts of the hello spell through a baseline queue, with ids `prefix-i`.
fn through_baseline(client: &impl Baseline, prefix: &str) -> Cast {
    let (client, prefix) = (client.clone(), prefix.to_string());
    Box::new(move |i| {
        let (client, id) = (client.clone(), format!("{prefix}-{i}"));
        Box::pin(async move {
            assert_eq!(client.cast(&id, "bench").await, b"Hello, bench!\n");
        })
    })
}

/// A baseline's closed loop (with its worker thread's CPU a cast) and 5 s of its open loop
/// (with the server's CPU a cast), as Spell's are measured.
fn measure_baseline(
    client_rt: &tokio::runtime::Runtime,
    queue: &str,
    thread: &str,
    client: &impl Baseline,
    casts: usize,
    rate: usize,
    server_cpu: &dyn Fn() -> Duration,
) {
    let cpu_before = threads_cpu_time(thread);
    client_rt
        .block_on(drive(casts, None, || {}, through_baseline(client, "one")))
        .print(&format!("{queue}_1_worker"));
    print_worker_cpu(
        &format!("{queue}_1_worker"),
        threads_cpu_time(thread) - cpu_before,
        casts,
    );
    let cpu_before = server_cpu();
    let scenario = format!("{queue}_1_worker_open_loop_{rate}_per_s");
    client_rt
        .block_on(drive(
            rate * 5,
            Some(Duration::from_secs(1) / rate as u32),
            || {},
            through_baseline(client, "open"),
        ))
        .print(&scenario);
    print_server_cpu(&scenario, server_cpu() - cpu_before, rate * 5);
}

/// Makes `n` casts, at most `OUTSTANDING` unanswered, or one every `interval` when given (open
/// loop); each one's submit-to-result time.
async fn drive(
    n: usize,
    interval: Option<Duration>,
    on_half: impl FnOnce(),
    cast: Cast,
) -> Figures {
    let slots = Arc::new(tokio::sync::Semaphore::new(OUTSTANDING));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = interval.map(tokio::time::interval);
    let mut on_half = Some(on_half);
    for i in 0..n {
        if i == n / 2
            && let Some(f) = on_half.take()
        {
            f();
        }
        if let Some(t) = &mut tick {
            t.tick().await;
        }
        let permit = slots.clone().acquire_owned().await.expect("slots");
        let cast = cast(i);
        tasks.spawn(async move {
            let t = Instant::now();
            cast.await;
            drop(permit);
            t.elapsed()
        });
    }
    let mut latencies = Vec::with_capacity(n);
    while let Some(l) = tasks.join_next().await {
        latencies.push(l.expect("task"));
    }
    Figures {
        casts: n,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn main() {
    let casts = env_count("SPELL_BENCH_CASTS", 10_000);
    let rate = env_count("SPELL_BENCH_RATE", 1_000);
    let package = spell_benches::fixtures::hello_spell();
    let runtime = Runtime::new().expect("runtime");

    // In-process baseline: the same spell, cast on one thread.
    let spell = runtime.load(&package, &policy()).expect("load");
    let started = Instant::now();
    for _ in 0..casts {
        drop(spell.cast(CastRequest::new().arg("bench")).expect("cast"));
    }
    let in_process = started.elapsed();
    println!(
        "in-process/hello: {casts} casts in {:.2} s = {:.0} casts/s ({:.1} µs each)",
        in_process.as_secs_f64(),
        casts as f64 / in_process.as_secs_f64(),
        in_process.as_secs_f64() * 1e6 / casts as f64,
    );

    // The server's garbage collector sets the open loop's tail (benches/README.md): say how it
    // was tuned, from the environment the server inherits.
    let go_env = |name: &str| std::env::var(name).unwrap_or_else(|_| "unset".into());
    println!(
        "nats-server: GOGC={}, GOMEMLIMIT={}",
        go_env("GOGC"),
        go_env("GOMEMLIMIT")
    );
    let server = nats_server::NatsServer::start();
    let url = server.url();
    let server_pid = server_pid(&server);
    let server_cpu = || server_pid.as_deref().map_or(Duration::ZERO, cpu_time);
    let config = ServiceConfig::default().ack_wait(Duration::from_secs(2));
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .expect("tokio");
    if std::env::var_os(STEADY_ONLY).is_some() {
        drop(server);
        return steady_state(&client_rt, &runtime, &spell, &package, rate);
    }
    let first = WorkerHandle::start(&url, "w1", config.clone(), &runtime);
    let client = client_rt.block_on(async {
        Client::connect(&NatsOptions::new(&url))
            .await
            .expect("client")
    });
    let digest = client_rt
        .block_on(client.publish(&package))
        .expect("publish")
        .0
        .to_hex();

    // The floors: the same casts through a bare JetStream queue, and through the operations the
    // issue requires made with nothing of Spell's, on the same server.
    let worker = WorkerHandle::start_baseline(
        RAW_WORKER_THREAD,
        raw_jetstream::worker(
            url.clone(),
            spell.clone(),
            WORKER_CONCURRENCY,
            Duration::ZERO,
        ),
    );
    let raw = client_rt.block_on(raw_jetstream::Client::connect(&url, Duration::ZERO));
    measure_baseline(
        &client_rt,
        "raw_jetstream",
        RAW_WORKER_THREAD,
        &raw,
        casts,
        rate,
        &server_cpu,
    );
    drop(worker);
    // Kept as long as Spell's casts are by default.
    let spell_kept = ServiceConfig::default().retention;
    let worker = WorkerHandle::start_baseline(
        REQUIRED_WORKER_THREAD,
        required_ops::worker(url.clone(), spell.clone(), WORKER_CONCURRENCY, spell_kept),
    );
    let required = client_rt.block_on(required_ops::Client::connect(&url, spell_kept));
    measure_baseline(
        &client_rt,
        "required_ops",
        REQUIRED_WORKER_THREAD,
        &required,
        casts,
        rate,
        &server_cpu,
    );
    drop(worker);

    let cpu_before = threads_cpu_time(SPELL_WORKER_THREAD);
    let figures = client_rt.block_on(drive(
        casts,
        None,
        || {},
        through_spell(std::slice::from_ref(&client), &digest, "one"),
    ));
    figures.print("1_worker");
    print_worker_cpu(
        "1_worker",
        threads_cpu_time(SPELL_WORKER_THREAD) - cpu_before,
        casts,
    );
    let second = WorkerHandle::start(&url, "w2", config.clone(), &runtime);
    let figures = client_rt.block_on(drive(
        casts,
        None,
        || {},
        through_spell(std::slice::from_ref(&client), &digest, "two"),
    ));
    figures.print("2_workers");
    second.stop();
    let (offered, every) = (rate * 5, Duration::from_secs(1) / rate as u32);
    let figures = client_rt.block_on(drive(
        offered,
        Some(every),
        || {},
        through_spell(std::slice::from_ref(&client), &digest, "open"),
    ));
    figures.print(&format!("1_worker_open_loop_{rate}_per_s"));

    let doomed = std::sync::Mutex::new(Some(WorkerHandle::start(&url, "doomed", config, &runtime)));
    let figures = client_rt.block_on(drive(
        casts,
        None,
        || {
            if let Some(w) = doomed.lock().expect("lock").take() {
                w.crash();
            }
        },
        through_spell(std::slice::from_ref(&client), &digest, "crash"),
    ));
    figures.print("2_workers_one_killed_halfway");
    first.stop();
    let retried = client_rt.block_on(async {
        let mut retried = 0;
        for i in 0..casts {
            let id = CastJob::new(&digest, "bench", format!("crash-{i}")).cast_id();
            let result = client.result(&id).await.expect("result").expect("stored");
            retried += usize::from(result.attempts > 1);
        }
        retried
    });
    println!("service/2_workers_one_killed_halfway: {retried} casts completed on a later attempt");

    let entries = client_rt.block_on(client.usage_entries()).expect("usage");
    let mut cast_entries: HashMap<&str, usize> = HashMap::new();
    let mut failed = 0;
    for e in &entries {
        match e.billed {
            Billed::Cast => *cast_entries.entry(e.cast_id.as_str()).or_default() += 1,
            Billed::FailedAttempt => failed += 1,
        }
    }
    let total = casts * 3 + offered;
    let duplicated = cast_entries.values().filter(|n| **n > 1).count();
    println!(
        "service/usage: {} cast ids billed of {total} submitted (lost {}), {duplicated} billed twice, {failed} failed attempts billed",
        cast_entries.len(),
        total - cast_entries.len(),
    );
    assert_eq!((cast_entries.len(), duplicated), (total, 0));

    let Some(spell_bin) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("spell")))
        .filter(|bin| bin.is_file())
    else {
        println!("service/worker_process: skipped, no `spell` binary beside this bench's");
        drop(server);
        return steady_state(&client_rt, &runtime, &spell, &package, rate);
    };
    let mut worker = std::process::Command::new(spell_bin)
        .args(["worker", "--nats", &url, "--id", "process"])
        .arg("--policy")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/policy.toml"
        ))
        .args(["--concurrency", &WORKER_CONCURRENCY.to_string()])
        .spawn()
        .expect("spell worker");
    let pid = worker.id().to_string();
    client_rt.block_on(drive(
        1_000,
        None,
        || {},
        through_spell(std::slice::from_ref(&client), &digest, "warm"),
    ));
    let (warm, cpu_before) = (rss_mib(&pid), cpu_time(&pid));
    let mut half = 0.0;
    let figures = client_rt.block_on(drive(
        casts,
        None,
        || half = rss_mib(&pid),
        through_spell(std::slice::from_ref(&client), &digest, "process"),
    ));
    let (end, cpu) = (rss_mib(&pid), cpu_time(&pid) - cpu_before);
    figures.print("worker_process");
    print_worker_cpu("worker_process", cpu, casts);
    println!(
        "service/worker_process: the worker's RSS after 1,000 casts {warm:.1} MiB, after {} more \
         {half:.1} MiB, after {casts} more {end:.1} MiB ({:+.1} MiB)",
        casts / 2,
        end - warm,
    );
    // The deployed shape of the open loop: the worker a process of its own, on all cores; then
    // the same casts from many clients at once.
    let many: Vec<Client> = client_rt.block_on(async {
        let mut many = Vec::new();
        for _ in 0..WAITING_CLIENTS {
            many.push(
                Client::connect(&NatsOptions::new(&url))
                    .await
                    .expect("client"),
            );
        }
        many
    });
    for (clients, scenario) in [
        (
            std::slice::from_ref(&client),
            format!("worker_process_open_loop_{rate}_per_s"),
        ),
        (
            &many[..],
            format!("worker_process_open_loop_{rate}_per_s_{WAITING_CLIENTS}_clients"),
        ),
    ] {
        let cpu_before = server_cpu();
        client_rt
            .block_on(drive(
                offered,
                Some(every),
                || {},
                through_spell(clients, &digest, &scenario),
            ))
            .print(&scenario);
        print_server_cpu(&scenario, server_cpu() - cpu_before, offered);
    }
    // SIGTERM: the worker drains and exits.
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let _ = worker.wait();
    drop(server);
    steady_state(&client_rt, &runtime, &spell, &package, rate);
}

/// The open loop held for `SPELL_BENCH_STEADY_SECS` (default 90; 0 skips it), through the bare
/// queue, the required operations and then Spell, each on a server of its own that keeps
/// results and de-duplicates ids for `SPELL_BENCH_RETENTION_SECS` (default 30): the latency and
/// the server's memory once what it keeps has stopped growing (every cast a server keeps is in
/// its per-key index, in memory, and its garbage collector walks it), and the CPU a cast of the
/// worker, the client and the server (the three share the two cores, so it sets the tail),
/// every 10 s. [`STEADY_ONLY`] picks the queues.
fn steady_state(
    client_rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    spell: &Spell,
    package: &[u8],
    rate: usize,
) {
    let secs = env_count("SPELL_BENCH_STEADY_SECS", 90);
    let kept = env_count("SPELL_BENCH_RETENTION_SECS", 30);
    if secs == 0 {
        return;
    }
    let kept_for = Duration::from_secs(kept as u64);
    // Each slice's CPU a cast of the three parties on the two cores: the worker's thread, the
    // client's thread and the server.
    let hold = |queue: &str,
                worker_thread: &str,
                server: &nats_server::NatsServer,
                cast: &dyn Fn(&str) -> Cast| {
        let pid = server_pid(server).unwrap_or_default();
        let every = Duration::from_secs(1) / rate as u32;
        let cpu = || {
            [
                threads_cpu_time(worker_thread),
                threads_cpu_time(CLIENT_THREAD),
                cpu_time(&pid),
            ]
        };
        for slice in 0..secs.div_ceil(10) {
            let before = cpu();
            let mut figures = client_rt.block_on(drive(
                rate * 10,
                Some(every),
                || {},
                cast(&format!("steady-{slice}")),
            ));
            let after = cpu();
            let per_cast =
                |i: usize| (after[i] - before[i]).as_secs_f64() * 1e6 / (rate * 10) as f64;
            figures.latencies.sort();
            println!(
                "service/{queue}_steady_{rate}_per_s_kept_{kept}_s: {}-{} s: p50 {:.2} ms, p99 \
                 {:.2} ms, max {:.2} ms; server RSS {:.0} MiB; CPU a cast: worker {:.0} µs, \
                 client {:.0} µs, server {:.0} µs",
                slice * 10,
                slice * 10 + 10,
                percentile(&figures.latencies, 50).as_secs_f64() * 1e3,
                percentile(&figures.latencies, 99).as_secs_f64() * 1e3,
                figures
                    .latencies
                    .last()
                    .map_or(0.0, |l| l.as_secs_f64() * 1e3),
                rss_mib(&pid),
                per_cast(0),
                per_cast(1),
                per_cast(2),
            );
        }
    };

    let wanted = |queue: &str| {
        std::env::var(STEADY_ONLY).map_or(true, |only| only.split(',').any(|q| q == queue))
    };
    if wanted("raw_jetstream") {
        let server = nats_server::NatsServer::start();
        let worker = WorkerHandle::start_baseline(
            RAW_WORKER_THREAD,
            raw_jetstream::worker(server.url(), spell.clone(), WORKER_CONCURRENCY, kept_for),
        );
        let raw = client_rt.block_on(raw_jetstream::Client::connect(&server.url(), kept_for));
        hold("raw_jetstream", RAW_WORKER_THREAD, &server, &|prefix| {
            through_baseline(&raw, prefix)
        });
        drop((worker, server));
    }

    if wanted("required_ops") {
        let server = nats_server::NatsServer::start();
        let worker = WorkerHandle::start_baseline(
            REQUIRED_WORKER_THREAD,
            required_ops::worker(server.url(), spell.clone(), WORKER_CONCURRENCY, kept_for),
        );
        let required = client_rt.block_on(required_ops::Client::connect(&server.url(), kept_for));
        hold("required_ops", REQUIRED_WORKER_THREAD, &server, &|prefix| {
            through_baseline(&required, prefix)
        });
        drop((worker, server));
    }

    if !wanted("spell") {
        return;
    }
    let server = nats_server::NatsServer::start();
    let config = ServiceConfig::default()
        .ack_wait(Duration::from_secs(2))
        .dedup_window(kept_for)
        .retention(kept_for);
    let worker = WorkerHandle::start(&server.url(), "steady", config, runtime);
    let (client, digest) = client_rt.block_on(async {
        let client = Client::connect(&NatsOptions::new(server.url()))
            .await
            .expect("client");
        let digest = client.publish(package).await.expect("publish").0.to_hex();
        (client, digest)
    });
    hold("spell", SPELL_WORKER_THREAD, &server, &|prefix| {
        through_spell(std::slice::from_ref(&client), &digest, prefix)
    });
    worker.stop();
}
