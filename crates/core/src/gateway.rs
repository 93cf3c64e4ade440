//! The gateway check's view of a request, as pure functions: which headers
//! carry the original request (one style per deployment), the path as the
//! proxy will route it, and how listen paths match and overlap.
//!
//! The danger this guards against is a proxy and the check judging two
//! different paths: `/eng-api/../ops-api/x` judged as eng's while the proxy
//! routes it to ops. So the check resolves what proxies resolve (percent-
//! encoded unreserved characters, `.` and `..` segments) and refuses what
//! proxies disagree on (encoded slashes and backslashes, doubled slashes,
//! climbing above the root, NUL).

/// Where the proxy in front puts the original request. One per deployment:
/// a client can add any header, so the check must not pick among several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyStyle {
    /// nginx `auth_request`: `X-Original-Method`, `X-Original-URI`.
    Nginx,
    /// Traefik ForwardAuth: `X-Forwarded-Method`, `X-Forwarded-Uri`.
    Traefik,
    /// Envoy ext_authz (HTTP): the original method, and the path after the
    /// check's own path.
    Envoy,
}

/// The headers each style reads, and every header any style reads.
const NGINX: [&str; 2] = ["x-original-method", "x-original-uri"];
const TRAEFIK: [&str; 2] = ["x-forwarded-method", "x-forwarded-uri"];

impl ProxyStyle {
    pub const ALL: [ProxyStyle; 3] = [ProxyStyle::Nginx, ProxyStyle::Traefik, ProxyStyle::Envoy];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyStyle::Nginx => "nginx",
            ProxyStyle::Traefik => "traefik",
            ProxyStyle::Envoy => "envoy",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<ProxyStyle> {
        ProxyStyle::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The headers this style reads (method, URI); none for Envoy.
    fn headers(self) -> Option<[&'static str; 2]> {
        match self {
            ProxyStyle::Nginx => Some(NGINX),
            ProxyStyle::Traefik => Some(TRAEFIK),
            ProxyStyle::Envoy => None,
        }
    }
}

/// Why the check cannot judge a request: answered 400 with this text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous(pub String);

/// The original request `(method, normalised path)` under `style`.
/// `header` reads a request header; `method` and `check_path` are the check
/// request's own (Envoy sends the original path after the check's path).
pub fn original_request<'a>(
    style: ProxyStyle,
    header: impl Fn(&str) -> Option<&'a str>,
    method: &str,
    check_path: &str,
) -> Result<(String, String), Ambiguous> {
    // Another style's headers beside ours: a client added them, or the
    // deployment is not what the setting says. Either way, do not guess.
    for other in ProxyStyle::ALL.into_iter().filter(|s| *s != style) {
        if let Some(name) = other
            .headers()
            .into_iter()
            .flatten()
            .find(|h| header(h).is_some())
        {
            return Err(Ambiguous(format!(
                "the request carries {name}, but this server takes the original request from {} ({}); remove it, or set --gateway-headers to match the proxy",
                style.as_str(),
                style
                    .headers()
                    .map_or("the check's own path".to_owned(), |h| h.join(", "))
            )));
        }
    }
    let (method, uri) = match style.headers() {
        Some([m, u]) => {
            let uri = header(u).ok_or_else(|| {
                Ambiguous(format!(
                    "{u} is missing: the proxy ({}) must pass the original request's URI",
                    style.as_str()
                ))
            })?;
            (header(m).unwrap_or(method), uri)
        }
        None => (method, check_path),
    };
    Ok((method.to_ascii_uppercase(), normalize_path(uri)?))
}

/// The path of `uri` (query and fragment dropped) as a proxy routes it:
/// percent-encoded unreserved characters decoded, other escapes kept (with
/// upper-case hex), `.` and `..` segments removed (RFC 3986, 5.2.4).
/// Refused: no leading `/`, an encoded `/` or `\`, a `\`, NUL, a doubled
/// slash, a `..` above the root, a malformed escape.
pub fn normalize_path(uri: &str) -> Result<String, Ambiguous> {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let refuse = |why: &str| Err(Ambiguous(format!("the path '{path}' is ambiguous: {why}")));
    if !path.starts_with('/') {
        return refuse("it must start with /");
    }
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    return refuse("a % is not followed by two hex digits");
                };
                match v {
                    b'/' | b'\\' => return refuse("it has an encoded slash or backslash"),
                    0 => return refuse("it has a NUL"),
                    _ if v.is_ascii_alphanumeric() || b"-._~".contains(&v) => {
                        decoded.push(char::from(v));
                    }
                    _ => decoded.push_str(&format!("%{v:02X}")),
                }
                i += 3;
            }
            b'\\' => return refuse("it has a backslash"),
            0 => return refuse("it has a NUL"),
            _ => {
                // Multi-byte UTF-8 is copied whole.
                let len = utf8_len(b);
                decoded.push_str(&path[i..i + len]);
                i += len;
            }
        }
    }
    if decoded.contains("//") {
        return refuse("it has a doubled slash (proxies differ on merging them)");
    }
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let mut out: Vec<&str> = Vec::new();
    for seg in &segments {
        match *seg {
            "." => {}
            ".." => {
                if out.pop().is_none() {
                    return refuse("a .. climbs above the root");
                }
            }
            s => out.push(s),
        }
    }
    let mut normal = format!("/{}", out.join("/"));
    // `/a/b/..` is the directory `/a/`, as RFC 3986 resolves it.
    if matches!(segments.last(), Some(&"." | &"..")) && !normal.ends_with('/') {
        normal.push('/');
    }
    Ok(normal)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Does listen path `listen` serve `path`? On whole segments: `/ops` and
/// `/ops/` serve `/ops` and `/ops/x`, never `/opsx`.
#[must_use]
pub fn serves(listen: &str, path: &str) -> bool {
    let base = listen.trim_end_matches('/');
    path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Would two listen paths compete for requests (one serves the other's)?
#[must_use]
pub fn overlaps(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    serves(a, b) || serves(b, a) || a.is_empty() || b.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_as_proxies_route_them() {
        for (raw, want) in [
            ("/eng-api/x", "/eng-api/x"),
            ("/eng-api/x?a=../b#f", "/eng-api/x"),
            ("/eng-api/../ops-api/x", "/ops-api/x"),
            ("/eng-api/%2e%2e/ops-api/x", "/ops-api/x"),
            ("/eng-api/%2E%2E/ops-api/x", "/ops-api/x"),
            ("/eng-api/.%2e/ops-api/x", "/ops-api/x"),
            ("/eng-api/./x", "/eng-api/x"),
            ("/%65ng-api/x", "/eng-api/x"),
            ("/eng-api/a%20b", "/eng-api/a%20b"),
            ("/eng-api/a%c3%a9", "/eng-api/a%C3%A9"),
            ("/eng-api/..", "/"),
            ("/eng-api/x/..", "/eng-api/"),
            ("/eng-api/", "/eng-api/"),
            ("/", "/"),
            ("/café/x", "/café/x"),
        ] {
            assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "eng-api/x",
            "/eng-api/..%2Fops-api/x",
            "/eng-api/%2f..%2fops-api",
            "/eng-api/%5c../ops-api",
            "/eng-api\\..\\ops-api",
            "/eng-api//../ops-api/x",
            "//ops-api/x",
            "/..",
            "/eng-api/../../x",
            "/eng-api/%00",
            "/eng-api/%zz",
            "/eng-api/%2",
        ] {
            assert!(normalize_path(raw).is_err(), "{raw} should be refused");
        }
    }

    #[test]
    fn listen_paths_match_whole_segments() {
        assert!(serves("/ops", "/ops"));
        assert!(serves("/ops/", "/ops"));
        assert!(serves("/ops/", "/ops/x"));
        assert!(serves("/ops", "/ops/x"));
        assert!(!serves("/ops", "/opsx"));
        assert!(!serves("/ops/", "/opsx/y"));
        assert!(serves("/", "/anything"));
        assert!(overlaps("/ops-api/", "/ops-api/admin/"));
        assert!(overlaps("/ops-api/admin", "/ops-api"));
        assert!(overlaps("/", "/x/"));
        assert!(!overlaps("/ops/", "/opsx/"));
        assert!(!overlaps("/eng-api/", "/ops-api/"));
    }

    #[test]
    fn one_header_style_per_deployment() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        let nginx = headers(&[("x-original-method", "get"), ("x-original-uri", "/a/../b")]);
        assert_eq!(
            original_request(ProxyStyle::Nginx, nginx, "GET", "/"),
            Ok(("GET".into(), "/b".into()))
        );
        // A client's X-Original-URI beside Traefik's headers is refused.
        let mixed = headers(&[("x-original-uri", "/eng/"), ("x-forwarded-uri", "/ops/")]);
        assert!(original_request(ProxyStyle::Traefik, mixed, "GET", "/").is_err());
        assert!(original_request(ProxyStyle::Nginx, mixed, "GET", "/").is_err());
        // Envoy takes neither header style, and its own path.
        assert!(original_request(ProxyStyle::Envoy, mixed, "GET", "/x").is_err());
        let none = headers(&[]);
        assert_eq!(
            original_request(ProxyStyle::Envoy, none, "post", "/x/./y"),
            Ok(("POST".into(), "/x/y".into()))
        );
        // The configured style's URI must be there.
        assert!(original_request(ProxyStyle::Nginx, none, "GET", "/x").is_err());
    }
}

/// Whether an API gateway serves an API definition (both of one tenant): a
/// gateway of an org serves that org's APIs only, a tenant-wide one every
/// org's; and their tags meet (neither having any also meets).
#[must_use]
pub fn gateway_serves(
    gateway_org: Option<&str>,
    gateway_tags: &[&str],
    api_org: Option<&str>,
    api_tags: &[&str],
) -> bool {
    let org_ok = gateway_org.is_none() || gateway_org == api_org;
    let tags_meet = if gateway_tags.is_empty() && api_tags.is_empty() {
        true
    } else {
        gateway_tags.iter().any(|t| api_tags.contains(t))
    };
    org_ok && tags_meet
}

#[cfg(test)]
mod serving {
    use super::gateway_serves;

    #[test]
    fn a_gateway_serves_its_orgs_apis_whose_tags_meet_its_own() {
        let a = Some("org_a");
        assert!(gateway_serves(a, &[], a, &[]));
        assert!(gateway_serves(a, &["eu", "pub"], a, &["pub"]));
        assert!(!gateway_serves(a, &["eu"], a, &["us"]));
        assert!(
            !gateway_serves(a, &["eu"], a, &[]),
            "untagged APIs go to untagged gateways"
        );
        assert!(!gateway_serves(a, &[], a, &["eu"]));
        assert!(
            !gateway_serves(a, &[], Some("org_b"), &[]),
            "never another org's"
        );
        assert!(
            gateway_serves(None, &[], Some("org_b"), &[]),
            "a tenant-wide one serves every org"
        );
        assert!(!gateway_serves(None, &["eu"], Some("org_b"), &["us"]));
    }
}
