//! A small DNS client for DNS monitors: one question (A, AAAA, CNAME, MX, TXT or NS) to one
//! resolver over UDP, again over TCP when the answer was truncated. It asks with recursion
//! desired and a random id, takes only a response with that id and question, and reads the answer
//! section (names may be compressed). It does not follow CNAME chains itself: the resolver does.
//!
//! Encoding and parsing are pure functions over bytes, tested below; `query` adds the sockets.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The resolver's port when only its address is given.
pub const DEFAULT_PORT: u16 = 53;
/// A UDP query is sent again after this long without an answer (the monitor's timeout ends it).
const RESEND_AFTER: Duration = Duration::from_millis(1_000);
/// The largest message read: UDP without EDNS carries at most 512 bytes, TCP up to 64 KiB.
const MAX_MESSAGE: usize = 65_535;
/// A name has at most 255 bytes on the wire.
const MAX_NAME: usize = 255;
const CLASS_IN: u16 = 1;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

/// The record types a DNS monitor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "TXT")]
    Txt,
    #[serde(rename = "NS")]
    Ns,
}

impl RecordType {
    pub const ALL: [RecordType; 6] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Txt,
        RecordType::Ns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ns => "NS",
        }
    }

    /// The type's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Its number on the wire.
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Ns => 2,
            RecordType::Cname => 5,
            RecordType::Mx => 15,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a query got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{0:?} is not a valid DNS name: {1}")]
    BadName(String, &'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the response is malformed: {0}")]
    Malformed(&'static str),
}

/// A response's code and the records of the asked type in its answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 0 is NOERROR; see [`rcode_name`].
    pub rcode: u8,
    pub truncated: bool,
    /// The records of the asked type, as text: an address, a name (without the final dot),
    /// `"10 mail.example.com"` for MX, the joined strings of a TXT record.
    pub answers: Vec<String>,
}

/// The mnemonic of a response code (RFC 1035, 2136, 6895).
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        other => format!("RCODE {other}"),
    }
}

/// Asks `server` for the `rtype` records of `name`. Resends the UDP query every second until an
/// answer arrives (the caller bounds it with the monitor's timeout); a truncated UDP answer is
/// asked again over TCP.
pub async fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Response, DnsError> {
    let id: u16 = rand::random();
    let message = encode_query(id, name, rtype)?;
    let udp = udp_exchange(server, &message).await?;
    let response = parse_response(&udp, id, name, rtype)?;
    if !response.truncated {
        return Ok(response);
    }
    let tcp = tcp_exchange(server, &message).await?;
    let mut response = parse_response(&tcp, id, name, rtype)?;
    // Over TCP nothing is cut off, whatever the flag says.
    response.truncated = false;
    Ok(response)
}

/// Sends `message` until a datagram with its id comes back from `server`; answers it.
async fn udp_exchange(server: SocketAddr, message: &[u8]) -> Result<Vec<u8>, DnsError> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    // Connected: the kernel drops datagrams from anyone but the resolver.
    socket.connect(server).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        socket.send(message).await?;
        let deadline = tokio::time::sleep(RESEND_AFTER);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                got = socket.recv(&mut buf) => {
                    let n = got?;
                    // Another query's late answer (or noise): keep waiting for ours.
                    if n >= 2 && buf[..2] == message[..2] {
                        return Ok(buf[..n].to_vec());
                    }
                }
                _ = &mut deadline => break,
            }
        }
    }
}

/// One query over TCP: each message is preceded by its length.
async fn tcp_exchange(server: SocketAddr, message: &[u8]) -> Result<Vec<u8>, DnsError> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(message.len()).map_err(|_| DnsError::Malformed("the query is too long"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The labels of `name` (a final dot is allowed and ignored).
fn labels(name: &str) -> Result<Vec<&str>, DnsError> {
    let bad = |why| DnsError::BadName(name.to_owned(), why);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let labels: Vec<&str> = trimmed.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(bad("it has an empty label"));
    }
    if labels.iter().any(|l| l.len() > 63) {
        return Err(bad("a label is longer than 63 characters"));
    }
    // Each label costs its length byte, plus the root's zero byte.
    if labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1 > MAX_NAME {
        return Err(bad("it is longer than 255 bytes"));
    }
    Ok(labels)
}

/// A query message: header (id, RD set, one question) and the question `name` `rtype` IN.
pub fn encode_query(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, DnsError> {
    let labels = labels(name)?;
    let mut m = Vec::with_capacity(18 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&FLAG_RD.to_be_bytes());
    // QDCOUNT 1; ANCOUNT, NSCOUNT, ARCOUNT 0.
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in labels {
        // At most 63: checked by `labels`.
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&rtype.code().to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(m)
}

/// Reads a message from its start, with bounds checks.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.msg.len());
        let end = end.ok_or(DnsError::Malformed("it ends early"))?;
        let out = &self.msg[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name at the current position; the position moves past it (past the
    /// first pointer, for a compressed one).
    fn name(&mut self) -> Result<String, DnsError> {
        let (name, end) = read_name(self.msg, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

/// The name at `start` of `msg`, following compression pointers, and where the name ends in
/// place. Pointers must point backwards, so a loop cannot be built.
fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut pos = start;
    let mut end = None;
    let mut wire_len = 0;
    loop {
        let len = *msg
            .get(pos)
            .ok_or(DnsError::Malformed("a name runs past the end"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(DnsError::Malformed("a label runs past the end"))?;
                wire_len += label.len() + 1;
                if wire_len > MAX_NAME {
                    return Err(DnsError::Malformed("a name is longer than 255 bytes"));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    // Names are shown as text: escape what would make them ambiguous.
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        name.push(char::from(b));
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                pos += 1 + label.len();
            }
            0xC0 => {
                let low = *msg
                    .get(pos + 1)
                    .ok_or(DnsError::Malformed("a pointer runs past the end"))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                if target >= pos {
                    return Err(DnsError::Malformed(
                        "a compression pointer does not point backwards",
                    ));
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(DnsError::Malformed("a label has a reserved type")),
        }
    }
}

/// Whether two names are the same (DNS compares ASCII without case; a final dot changes nothing).
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The response to query `id` for `name` `rtype`: its code and the records of that type in the
/// answer section, as text. A message that is not that response is an error.
pub fn parse_response(msg: &[u8], id: u16, name: &str, rtype: RecordType) -> Result<Response, DnsError> {
    let mut r = Reader { msg, pos: 0 };
    if r.u16()? != id {
        return Err(DnsError::Malformed("its id is not the query's"));
    }
    let flags = r.u16()?;
    if flags & FLAG_QR == 0 {
        return Err(DnsError::Malformed("it is a query, not a response"));
    }
    let rcode = (flags & 0x000F) as u8;
    let truncated = flags & FLAG_TC != 0;
    let questions = r.u16()?;
    let answers = r.u16()?;
    let _authority = r.u16()?;
    let _additional = r.u16()?;
    // A FORMERR or NOTIMP may come without the question.
    if questions == 0 && rcode != 0 {
        return Ok(Response {
            rcode,
            truncated,
            answers: Vec::new(),
        });
    }
    if questions != 1 {
        return Err(DnsError::Malformed("it does not have exactly one question"));
    }
    let qname = r.name()?;
    let (qtype, qclass) = (r.u16()?, r.u16()?);
    if !same_name(&qname, name) || qtype != rtype.code() || qclass != CLASS_IN {
        return Err(DnsError::Malformed("it answers another question"));
    }
    let mut out = Vec::new();
    // A truncated message may end within the answers: keep what is whole.
    for _ in 0..answers {
        let record = (|| -> Result<Option<String>, DnsError> {
            let _owner = r.name()?;
            let (t, class, _ttl, len) = (r.u16()?, r.u16()?, r.u32()?, r.u16()?);
            let data_start = r.pos;
            let data = r.bytes(usize::from(len))?;
            if t != rtype.code() || class != CLASS_IN {
                // CNAMEs leading to the records, DNSSEC signatures: not what was asked.
                return Ok(None);
            }
            rdata_text(msg, data_start, data, rtype).map(Some)
        })();
        match record {
            Ok(Some(text)) => out.push(text),
            Ok(None) => {}
            Err(_) if truncated => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Response {
        rcode,
        truncated,
        answers: out,
    })
}

/// A record's data as text; `start` is where `data` begins in `msg` (names in it may point into
/// the rest of the message).
fn rdata_text(msg: &[u8], start: usize, data: &[u8], rtype: RecordType) -> Result<String, DnsError> {
    let name_in_data = |at: usize| -> Result<String, DnsError> {
        let (name, end) = read_name(msg, at)?;
        if end > start + data.len() {
            return Err(DnsError::Malformed("a name runs past its record"));
        }
        Ok(name)
    };
    match rtype {
        RecordType::A => {
            let b: [u8; 4] = data
                .try_into()
                .map_err(|_| DnsError::Malformed("an A record is not 4 bytes"))?;
            Ok(Ipv4Addr::from(b).to_string())
        }
        RecordType::Aaaa => {
            let b: [u8; 16] = data
                .try_into()
                .map_err(|_| DnsError::Malformed("an AAAA record is not 16 bytes"))?;
            Ok(Ipv6Addr::from(b).to_string())
        }
        RecordType::Cname | RecordType::Ns => name_in_data(start),
        RecordType::Mx => {
            let pref = data
                .get(..2)
                .ok_or(DnsError::Malformed("an MX record is too short"))?;
            let pref = u16::from_be_bytes([pref[0], pref[1]]);
            Ok(format!("{pref} {}", name_in_data(start + 2)?))
        }
        RecordType::Txt => {
            // One or more character strings, shown joined (as SPF and DKIM read them).
            let mut text = String::new();
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail
                    .get(..usize::from(len))
                    .ok_or(DnsError::Malformed("a TXT string runs past its record"))?;
                text.push_str(&String::from_utf8_lossy(s));
                rest = &tail[usize::from(len)..];
            }
            Ok(text)
        }
    }
}

/// The first `nameserver` of a resolv.conf, with the DNS port.
pub fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        // A link-local IPv6 address may carry a zone (`fe80::1%eth0`), which `IpAddr` does not take.
        let addr = words.next()?.split('%').next()?;
        addr.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to a query for `example.com` A, id 0xBEEF, as a resolver sends it: the answers'
    /// owner names point back at the question (0xC00C).
    fn compressed_response() -> Vec<u8> {
        let mut m = vec![
            0xBE, 0xEF, // id
            0x81, 0x80, // QR, RD, RA; NOERROR
            0, 1, 0, 3, 0, 0, 0, 0, // 1 question, 3 answers
            7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        // example.com CNAME www.example.com, the target compressed to "www" + pointer.
        m.extend_from_slice(&[
            0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'w', b'w', b'w', 0xC0, 12,
        ]);
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 2]);
        m
    }

    #[test]
    fn a_query_has_the_id_recursion_desired_and_one_question() {
        let q = encode_query(0x1234, "Example.com.", RecordType::Mx).unwrap();
        assert_eq!(
            q,
            [
                0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'E', b'x', b'a', b'm', b'p', b'l', b'e',
                3, b'c', b'o', b'm', 0, 0, 15, 0, 1
            ]
        );
    }

    #[test]
    fn bad_names_are_refused_before_sending() {
        for name in ["", ".", "a..b", &format!("{}.com", "x".repeat(64))] {
            assert!(encode_query(1, name, RecordType::A).is_err(), "{name:?}");
        }
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(encode_query(1, &long, RecordType::A).is_err());
    }

    #[test]
    fn compressed_answers_are_read_and_other_types_skipped() {
        let r = parse_response(&compressed_response(), 0xBEEF, "EXAMPLE.com.", RecordType::A).unwrap();
        assert_eq!(
            r,
            Response {
                rcode: 0,
                truncated: false,
                answers: vec!["10.0.0.1".into(), "10.0.0.2".into()],
            }
        );
        let cname = {
            let mut m = compressed_response();
            // Ask as if for the CNAME: the question's type must match.
            m[26] = 5;
            m
        };
        let r = parse_response(&cname, 0xBEEF, "example.com", RecordType::Cname).unwrap();
        assert_eq!(r.answers, vec!["www.example.com"]);
    }

    #[test]
    fn a_response_to_another_query_is_refused() {
        let m = compressed_response();
        assert!(parse_response(&m, 0xBEEE, "example.com", RecordType::A).is_err());
        assert!(parse_response(&m, 0xBEEF, "example.org", RecordType::A).is_err());
        assert!(parse_response(&m, 0xBEEF, "example.com", RecordType::Aaaa).is_err());
        let mut query = m.clone();
        query[2] &= 0x7F;
        assert!(parse_response(&query, 0xBEEF, "example.com", RecordType::A).is_err());
    }

    #[test]
    fn truncated_or_looping_messages_are_errors_not_panics() {
        let m = compressed_response();
        for cut in 0..m.len() {
            // Every prefix either parses (when it ends between records) or fails cleanly.
            let _ = parse_response(&m[..cut], 0xBEEF, "example.com", RecordType::A);
        }
        let mut looping = m.clone();
        // The question's name becomes a pointer to itself.
        looping[12] = 0xC0;
        looping[13] = 12;
        assert!(parse_response(&looping, 0xBEEF, "example.com", RecordType::A).is_err());
    }

    #[test]
    fn rcodes_are_kept_and_named() {
        let mut m = compressed_response();
        m[3] = 0x83;
        m[6..8].copy_from_slice(&[0, 0]);
        m.truncate(29);
        let r = parse_response(&m, 0xBEEF, "example.com", RecordType::A).unwrap();
        assert_eq!((r.rcode, r.answers.len()), (3, 0));
        assert_eq!(rcode_name(r.rcode), "NXDOMAIN");
        assert_eq!(rcode_name(2), "SERVFAIL");
    }

    #[test]
    fn mx_and_txt_records_read_as_text() {
        let mut m = vec![0, 7, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'x', 0, 0, 15, 0, 1]);
        m.extend_from_slice(&[
            0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 1, 0, 9, 0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 12,
        ]);
        // A TXT record among the MX answers is skipped.
        m.extend_from_slice(&[
            0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 1, 0, 6, 2, b'h', b'i', 2, b'y', b'o',
        ]);
        let r = parse_response(&m, 7, "x", RecordType::Mx).unwrap();
        assert_eq!(r.answers, vec!["10 mail.x"]);
        let data = [2, b'h', b'i', 3, b' ', b'y', b'o'];
        assert_eq!(rdata_text(&data, 0, &data, RecordType::Txt).unwrap(), "hi yo");
    }

    #[test]
    fn the_first_nameserver_of_resolv_conf_is_the_default() {
        let conf = "# generated\nsearch lan\nnameserver fe80::1%eth0\nnameserver 10.0.0.53\n";
        assert_eq!(first_nameserver(conf), Some("[fe80::1]:53".parse().unwrap()));
        assert_eq!(first_nameserver("options ndots:5\n"), None);
    }

    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        // One resolver on the same port for both: UDP answers truncated, TCP answers whole.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).await.unwrap();
        let answer = |query: &[u8], truncated: bool| {
            let mut m = compressed_response();
            m[..2].copy_from_slice(&query[..2]);
            if truncated {
                m[2] |= 0x02;
                m[7] = 0;
                m.truncate(29);
            }
            m
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, from) = udp.recv_from(&mut buf).await.unwrap();
            udp.send_to(&answer(&buf[..n], true), from).await.unwrap();
            let (mut s, _) = tcp.accept().await.unwrap();
            let len = s.read_u16().await.unwrap();
            let mut q = vec![0u8; usize::from(len)];
            s.read_exact(&mut q).await.unwrap();
            let a = answer(&q, false);
            s.write_u16(a.len() as u16).await.unwrap();
            s.write_all(&a).await.unwrap();
        });
        let r = query(addr, "example.com", RecordType::A).await.unwrap();
        assert_eq!(r.answers, vec!["10.0.0.1", "10.0.0.2"]);
        assert!(!r.truncated);
    }
}
