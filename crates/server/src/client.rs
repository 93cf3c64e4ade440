//! Who the client is: the connection's peer, or — when that peer is one of
//! the configured trusted proxies (`--trusted-proxies`) — the address the
//! proxies report in `X-Forwarded-For`. Login limits (and anything else that
//! reads the client's address) see the result, so a load balancer's own
//! address never stands for everyone behind it, and a client that is not a
//! trusted proxy cannot claim another address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// A network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `192.168.1.7` (one address) or `fd00::/8`.
    pub fn parse(text: &str) -> Result<Network, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{text}' is not an address or network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    /// A comma-separated list, as `--trusted-proxies` takes it.
    pub fn parse_list(text: &str) -> Result<Vec<Network>, String> {
        text.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(Network::parse)
            .collect()
    }

    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// the rightmost `X-Forwarded-For` entry that is not a trusted proxy (the
/// leftmost when all are), since only the trusted hops' entries are true.
#[must_use]
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .or_else(|| hops.first())
        .copied()
        .unwrap_or(peer)
}

/// Replaces the connection's address with the client's (see the module),
/// once, for every route and edge behind it.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !state.trusted_proxies.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = client_address(peer.ip(), &forwarded, &state.trusted_proxies);
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.1.2.3")) && !n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.9.9.9")), "v4-mapped v6 peers");
        assert!(
            Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.2"))
        );
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("proxy.local").is_err());
        assert_eq!(
            Network::parse_list("10.0.0.0/8, 127.0.0.1").unwrap().len(),
            2
        );
    }

    #[test]
    fn only_trusted_peers_speak_for_the_client() {
        let trusted = Network::parse_list("10.0.0.0/8").unwrap();
        // An untrusted peer's header is ignored: it cannot claim an address.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Through a trusted proxy: the client it reports.
        assert_eq!(
            client_address(ip("10.0.0.2"), &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // A forged entry on the left stays unbelieved: the rightmost
        // untrusted hop is the one the trusted proxy saw.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &["1.1.1.1, 198.51.100.7, 10.0.0.5"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        // No header, or nothing parsable: the peer.
        assert_eq!(
            client_address(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        // No trusted proxies configured: always the peer.
        assert_eq!(
            client_address(ip("10.0.0.2"), &["198.51.100.7"], &[]),
            ip("10.0.0.2")
        );
    }
}
