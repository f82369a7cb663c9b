//! The network the `host_calls` target's guests reach: an HTTP server and a DNS server on
//! 127.0.0.1, both in this process, so `spell::http_request` is fuzzed end to end without a
//! packet leaving the machine. Only names under `spell.test` resolve, to loopback addresses.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The longest a server connection waits for its client: a client that leaves a connection open
/// longer is a leak the target's oracle reports first.
const CLIENT_PATIENCE: Duration = Duration::from_secs(5);

/// An HTTP/1.1 server answering by path: `/big` a 64 KiB body, `/slow` after a second (or never,
/// if the client leaves first), `/stall` a head promising a body that never comes, `/redirect` a
/// 302 back to `/`, anything else `hello`. Each connection has a thread, which ends when the
/// client closes the connection (or after [`CLIENT_PATIENCE`]).
pub(crate) struct HttpServer {
    pub(crate) port: u16,
    /// Connections accepted whose client has not closed them yet.
    open: Arc<AtomicUsize>,
}

impl HttpServer {
    pub(crate) fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the loopback HTTP server");
        let port = listener.local_addr().expect("its address").port();
        let open = Arc::new(AtomicUsize::new(0));
        let counted = open.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let counted = counted.clone();
                std::thread::spawn(move || {
                    serve(conn, port);
                    counted.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        HttpServer { port, open }
    }

    /// How many connections are open: accepted, and not yet closed by their client (every
    /// request asks `connection: close`, so a client that keeps one is leaking it).
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

fn serve(mut conn: TcpStream, port: u16) {
    let _ = conn.set_read_timeout(Some(CLIENT_PATIENCE));
    let Some(path) = read_request(&mut conn) else {
        return;
    };
    let reply = match path.as_str() {
        "/big" => head("200 OK", 65_536, "") + &"x".repeat(65_536),
        "/slow" => {
            if client_left(&mut conn, Duration::from_secs(1)) {
                return;
            }
            head("200 OK", 4, "") + "late"
        }
        "/stall" => head("200 OK", 100, "") + "partial",
        "/redirect" => head(
            "302 Found",
            0,
            &format!("location: http://127.0.0.1:{port}/\r\n"),
        ),
        _ => head("200 OK", 5, "x-fuzz: yes\r\n") + "hello",
    };
    let _ = conn.write_all(reply.as_bytes());
    // Waits for the client to close (every request asks `connection: close`).
    client_left(&mut conn, CLIENT_PATIENCE);
}

fn head(status: &str, length: usize, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: {length}\r\n{extra}connection: close\r\n\r\n")
}

/// The request's path, once its head and (up to 64 KiB of) body are read.
fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) if data.len() + n > 1 << 20 => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 << 10);
    let mut body = data.len() - end;
    while body < length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body += n,
        }
    }
    head.split(' ').nth(1).map(str::to_owned)
}

/// Whether the client closed the connection within `wait` (reading and dropping what it sends).
fn client_left(conn: &mut TcpStream, wait: Duration) -> bool {
    let _ = conn.set_read_timeout(Some(wait));
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A DNS server (UDP) answering `A 127.0.0.1` for `ok.spell.test`, `A 127.0.0.2` for
/// `blocked.spell.test` (an address the target's policy does not allow), nothing at all for
/// `silent.spell.test` and NXDOMAIN for every other name.
pub(crate) fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the loopback DNS server");
    let addr = socket.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    addr
}

fn answer(packet: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    let question = query.queries.first()?;
    let address = match question.name().to_lowercase().to_ascii().as_str() {
        "silent.spell.test." => return None,
        "ok.spell.test." => Some(Ipv4Addr::new(127, 0, 0, 1)),
        "blocked.spell.test." => Some(Ipv4Addr::new(127, 0, 0, 2)),
        _ => None,
    };
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    match address {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(a) if question.query_type() == RecordType::A => {
            reply.add_answer(Record::from_rdata(
                question.name().clone(),
                60,
                RData::A(A(a)),
            ));
        }
        Some(_) => {}
    }
    reply.add_query(question.clone());
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_calls::within_a_second;

    #[test]
    fn a_connection_counts_as_open_until_its_client_closes_it() {
        let server = HttpServer::start();
        let mut client = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .expect("request");
        let mut reply = [0u8; 256];
        let n = client.read(&mut reply).expect("reply");
        assert!(reply[..n].starts_with(b"HTTP/1.1 200 OK"));
        assert!(
            within_a_second(|| server.open_connections() == 1),
            "a held connection is open"
        );
        drop(client);
        assert!(
            within_a_second(|| server.open_connections() == 0),
            "a closed one is not"
        );
    }
}
