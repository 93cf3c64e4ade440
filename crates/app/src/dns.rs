//! The one DNS question orgscope asks: the TXT records of a name, to prove
//! that whoever claims a domain for an org controls it. Asked through
//! `hickory-resolver` (UDP, then TCP when an answer is truncated; every
//! configured nameserver, the next one asked when one fails) with a resolver
//! made for the question, so nothing is cached: a proof is read fresh.

use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// Where domain proofs ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nameservers {
    /// Named by the operator (`ORGSCOPE_DNS_SERVER`), in order.
    Listed(Vec<SocketAddr>),
    /// Every `nameserver` of /etc/resolv.conf, with its options, read at
    /// each question.
    System,
}

impl std::fmt::Display for Nameservers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nameservers::Listed(servers) => {
                let names: Vec<String> = servers.iter().map(ToString::to_string).collect();
                f.write_str(&names.join(", "))
            }
            Nameservers::System => f.write_str("of /etc/resolv.conf"),
        }
    }
}

/// Why the TXT records could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum DnsError {
    /// No nameserver answered, or the configuration cannot be read.
    Unreachable(String),
    /// The nameservers answered with an error (SERVFAIL, REFUSED, …).
    Failed(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Unreachable(why) => f.write_str(why),
            DnsError::Failed(code) => write!(f, "it answered {code}"),
        }
    }
}

/// The nameservers the operator names (`ORGSCOPE_DNS_SERVER`, `--dns-server`):
/// `ip` or `ip:port`, several comma-separated; empty means the system's.
pub fn parse_list(v: &str) -> Result<Nameservers, String> {
    if v.trim().is_empty() {
        return Ok(Nameservers::System);
    }
    let servers = v
        .split(',')
        .map(|s| {
            parse_server(s.trim()).ok_or_else(|| format!("'{}' is not an ip or ip:port", s.trim()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Nameservers::Listed(servers))
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    s.parse()
        .ok()
        .or_else(|| s.parse().ok().map(|ip| SocketAddr::new(ip, 53)))
}

fn resolver(servers: &Nameservers) -> Result<TokioResolver, NetError> {
    let mut builder = match servers {
        Nameservers::System => TokioResolver::builder_tokio()?,
        Nameservers::Listed(list) => {
            let name_servers = list
                .iter()
                .map(|addr| {
                    // UDP first, TCP for an answer that did not fit.
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    server
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
        }
    };
    let options = builder.options_mut();
    // A TXT question: /etc/hosts has nothing to say.
    options.use_hosts_file = ResolveHosts::Never;
    // One nameserver at a time: asked in parallel, a truncated answer is
    // asked again over TCP only once every parallel query has ended, so one
    // nameserver that is down would stall it past the deadline.
    options.num_concurrent_reqs = 1;
    if let Nameservers::Listed(list) = servers {
        // Each try that times out (2 s) makes that nameserver the slowest,
        // so the next try goes to another: one more try than there are
        // nameservers gives each its turn, and a lone one a second chance.
        // The system's keep resolv.conf's `options timeout: attempts:`.
        options.timeout = std::time::Duration::from_secs(2);
        options.attempts = list.len().max(1);
    }
    builder.build()
}

/// The TXT records of `name` (each record's strings joined); empty when the
/// name does not exist or has none.
pub async fn txt_records(servers: &Nameservers, name: &str) -> Result<Vec<String>, DnsError> {
    let resolver = resolver(servers).map_err(|e| DnsError::Unreachable(e.to_string()))?;
    // Fully qualified: no search domain is tried first.
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.txt_lookup(fqdn).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None, // a CNAME on the way
            })
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(code))) => {
            Err(DnsError::Failed(code.to_string()))
        }
        Err(e) => Err(DnsError::Unreachable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_names_one_or_several_nameservers() {
        assert_eq!(
            parse_list("10.0.0.1"),
            Ok(Nameservers::Listed(vec!["10.0.0.1:53".parse().unwrap()]))
        );
        assert_eq!(
            parse_list("127.0.0.1:5353, [::1]:53,10.0.0.2"),
            Ok(Nameservers::Listed(vec![
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
                "10.0.0.2:53".parse().unwrap(),
            ]))
        );
        assert!(
            parse_list("10.0.0.1,dns.example")
                .unwrap_err()
                .contains("dns.example")
        );
        assert_eq!(parse_list(" "), Ok(Nameservers::System));
    }
}
