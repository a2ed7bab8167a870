//! A DNS server for tests, on UDP 127.0.0.1 (port 0): answers A and TXT questions for the names
//! it is given, NXDOMAIN for the others, and NOERROR without answers for other types. The test
//! changes its answers while it runs: another address, NXDOMAIN for every name, or no answer at
//! all (a resolver that went away). Its encoding is written here, independently of the client
//! under test; answers point back at the question's name (compression), as real servers do.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_TXT: u16 = 16;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From its records.
    Answer,
    /// NXDOMAIN, whatever the name.
    NxDomain,
    /// Not at all.
    Silent,
}

#[derive(Default)]
struct Zone {
    a: HashMap<String, Vec<Ipv4Addr>>,
    txt: HashMap<String, Vec<String>>,
    mode: Option<Mode>,
}

#[derive(Clone)]
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    queries: Arc<AtomicUsize>,
}

impl DnsServer {
    /// A server answering from no records (NXDOMAIN) until told otherwise; it runs until the test
    /// ends.
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = DnsServer {
            addr: socket.local_addr().unwrap(),
            zone: Arc::default(),
            queries: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                s.queries.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = s.reply(&buf[..n]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        server
    }

    /// `name`'s A records are `ips` from now on.
    pub fn set_a(&self, name: &str, ips: &[Ipv4Addr]) {
        let mut zone = self.zone.lock().unwrap();
        zone.a.insert(name.to_ascii_lowercase(), ips.to_vec());
    }

    /// `name`'s TXT records are `texts` from now on (each one character string).
    pub fn set_txt(&self, name: &str, texts: &[&str]) {
        let mut zone = self.zone.lock().unwrap();
        zone.txt.insert(
            name.to_ascii_lowercase(),
            texts.iter().map(|t| (*t).to_owned()).collect(),
        );
    }

    pub fn set_mode(&self, mode: Mode) {
        self.zone.lock().unwrap().mode = Some(mode);
    }

    /// Questions received so far (answered or not).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// The response to `query`, if one is due: same id and question, RD copied, RA set.
    fn reply(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return None;
        }
        // The question's name: plain labels (clients do not compress questions).
        let mut pos = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(*query.get(pos)?);
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8_lossy(query.get(pos + 1..pos + 1 + len)?).to_ascii_lowercase());
            pos += 1 + len;
        }
        let question_end = pos + 5;
        if query.len() < question_end {
            return None;
        }
        let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
        let name = labels.join(".");

        let zone = self.zone.lock().unwrap();
        let mode = zone.mode.unwrap_or(Mode::Answer);
        if mode == Mode::Silent {
            return None;
        }
        let known = zone.a.contains_key(&name) || zone.txt.contains_key(&name);
        let rcode = if mode == Mode::NxDomain || !known { 3 } else { 0 };
        let rdatas: Vec<Vec<u8>> = match (rcode, qtype) {
            (0, TYPE_A) => zone
                .a
                .get(&name)
                .into_iter()
                .flatten()
                .map(|ip| ip.octets().to_vec())
                .collect(),
            (0, TYPE_TXT) => zone
                .txt
                .get(&name)
                .into_iter()
                .flatten()
                .map(|t| {
                    let mut d = vec![t.len() as u8];
                    d.extend_from_slice(t.as_bytes());
                    d
                })
                .collect(),
            _ => Vec::new(),
        };
        drop(zone);

        let mut m = Vec::with_capacity(512);
        m.extend_from_slice(&query[..2]);
        // QR, the query's RD, RA; the code.
        m.push(0x80 | (query[2] & 0x01));
        m.push(0x80 | rcode);
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&(rdatas.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&query[12..question_end]);
        for data in rdatas {
            // The owner: a pointer to the question's name at offset 12.
            m.extend_from_slice(&[0xC0, 12]);
            m.extend_from_slice(&qtype.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(&data);
        }
        Some(m)
    }
}
