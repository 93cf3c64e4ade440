//! The one DNS question orgscope asks: the TXT records of a name, to prove
//! that whoever claims a domain for an org controls it. A single UDP query to
//! the configured resolver; no caching (a proof is read fresh each time).

use std::net::SocketAddr;
use std::time::Duration;

const TXT: u16 = 16;
const CLASS_IN: u16 = 1;

/// Why the TXT records could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The resolver did not answer, or answered something that is not DNS.
    Unreachable(String),
    /// The resolver answered with an error code other than "no such name".
    Failed(u8),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Unreachable(why) => f.write_str(why),
            DnsError::Failed(code) => {
                let name = match code {
                    2 => "SERVFAIL",
                    4 => "NOTIMP",
                    5 => "REFUSED",
                    _ => "an error",
                };
                write!(f, "it answered {name} (code {code})")
            }
        }
    }
}

/// The resolver orgscope asks: `ORGSCOPE_DNS_SERVER` (`ip:port` or `ip`),
/// else the first `nameserver` of /etc/resolv.conf.
pub fn resolver_from_env() -> Option<SocketAddr> {
    if let Ok(v) = std::env::var("ORGSCOPE_DNS_SERVER")
        && !v.trim().is_empty()
    {
        return parse_server(v.trim());
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| parse_server(rest.trim()))
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    s.parse()
        .ok()
        .or_else(|| s.parse().ok().map(|ip| SocketAddr::new(ip, 53)))
}

/// The TXT records of `name` (each record's strings joined); empty when the
/// name does not exist or has none.
pub async fn txt_records(server: SocketAddr, name: &str) -> Result<Vec<String>, DnsError> {
    let id: u16 = rand::random();
    let query = encode_query(id, name);
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("an address")
    } else {
        "[::]:0".parse().expect("an address")
    };
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| DnsError::Unreachable(e.to_string()))?;
    socket
        .connect(server)
        .await
        .map_err(|e| DnsError::Unreachable(e.to_string()))?;
    let mut buf = vec![0u8; 4096];
    // Three tries, as resolvers do: UDP may drop a datagram.
    for _ in 0..3 {
        socket
            .send(&query)
            .await
            .map_err(|e| DnsError::Unreachable(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(DnsError::Unreachable(e.to_string())),
                // Not our answer (a late reply to an earlier try): keep waiting.
                Ok(Ok(n)) if n < 2 || u16::from_be_bytes([buf[0], buf[1]]) != id => {}
                Ok(Ok(n)) => return decode_txt(&buf[..n]),
            }
        }
    }
    Err(DnsError::Unreachable(format!("no answer from {server}")))
}

fn encode_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // a standard query, recursion desired
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TXT.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

fn bad(what: &str) -> DnsError {
    DnsError::Unreachable(format!("a malformed DNS answer ({what})"))
}

/// Skips a (possibly compressed) name; returns the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Result<usize, DnsError> {
    loop {
        let len = *msg.get(at).ok_or_else(|| bad("name"))?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xC0 == 0xC0 => return Ok(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    Ok(u16::from_be_bytes([
        *msg.get(at).ok_or_else(|| bad("short"))?,
        *msg.get(at + 1).ok_or_else(|| bad("short"))?,
    ]))
}

fn decode_txt(msg: &[u8]) -> Result<Vec<String>, DnsError> {
    if msg.len() < 12 {
        return Err(bad("header"));
    }
    let flags = u16_at(msg, 2)?;
    if flags & 0x0200 != 0 {
        return Err(DnsError::Unreachable(
            "the answer was truncated; the TXT records are too large".into(),
        ));
    }
    match (flags & 0x000F) as u8 {
        0 => {}
        3 => return Ok(Vec::new()), // no such name
        code => return Err(DnsError::Failed(code)),
    }
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let kind = u16_at(msg, at)?;
        let len = u16_at(msg, at + 8)? as usize;
        let start = at + 10;
        let data = msg.get(start..start + len).ok_or_else(|| bad("record"))?;
        at = start + len;
        if kind != TXT {
            continue; // a CNAME on the way
        }
        let mut text = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let n = data[i] as usize;
            text.extend_from_slice(data.get(i + 1..i + 1 + n).ok_or_else(|| bad("text"))?);
            i += 1 + n;
        }
        out.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_answer_a_resolver_gives() {
        // dnsmasq's answer to `_orgscope.alpha.portal.test TXT`, captured.
        let msg = b"\x124\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00\t_orgscope\x05alpha\x06portal\x04test\x00\x00\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x00\x00\x14\x13orgscope-verify=abc";
        assert_eq!(decode_txt(msg).unwrap(), ["orgscope-verify=abc"]);
        // The question it answers is the one we ask, but for the header.
        let mut asked = msg[..45].to_vec();
        asked[2..4].copy_from_slice(&[0x01, 0x00]);
        asked[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(encode_query(0x1234, "_orgscope.alpha.portal.test"), asked);
    }

    #[test]
    fn no_such_name_is_no_records_and_garbage_is_an_error() {
        let mut nx = b"\x124\x81\x83\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        assert_eq!(decode_txt(&nx).unwrap(), Vec::<String>::new());
        nx[3] = 0x82; // SERVFAIL
        assert_eq!(decode_txt(&nx), Err(DnsError::Failed(2)));
        assert!(decode_txt(b"\x124\x81\x80\x00\x00\x00\x05\x00\x00\x00\x00").is_err());
    }
}
