//! The network the `host_calls` target's guests reach: an HTTP server and a DNS server on
//! 127.0.0.1, both in this process, so `spell::http_request` is fuzzed end to end without a
//! packet leaving the machine. Only names under `spell.test` resolve, to loopback addresses.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// The longest a server connection waits for its client: a client that leaves a connection open
/// longer is a leak the target's oracle reports first.
const CLIENT_PATIENCE: Duration = Duration::from_secs(5);

/// An HTTP/1.1 server answering by path: `/big` a 64 KiB body, `/slow` after a second (or never,
/// if the client leaves first), `/stall` a head promising a body that never comes, `/redirect` a
/// 302 back to `/`, anything else `hello`. Each connection has a thread.
pub(crate) fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the loopback HTTP server");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn, port));
        }
    });
    port
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

/// Sockets this process holds connected to `port` on this machine (client ends only: their
/// remote port is `port`), from `/proc/self/net/tcp{,6}` and `/proc/self/fd`.
pub(crate) fn sockets_to(port: u16) -> usize {
    let inodes: HashSet<String> = ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let remote = fields.get(2)?.rsplit(':').next()?;
                    let inode = fields.get(9)?;
                    (u16::from_str_radix(remote, 16).ok()? == port && *inode != "0")
                        .then(|| format!("socket:[{inode}]"))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
        d.flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|t| inodes.contains(t.to_string_lossy().as_ref()))
            .count()
    })
}
