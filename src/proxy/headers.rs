//! Header hygiene: hop-by-hop headers dropped both ways, `X-Forwarded-*` set,
//! client-supplied forwarding headers kept only from trusted proxies.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use std::net::IpAddr;

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the `Proxy-*` family.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwarding headers only a trusted proxy may set.
const FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-real-ip",
    "forwarded",
];

/// Removes hop-by-hop headers and every header named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let proxy_family: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy_family {
        headers.remove(name);
    }
}

/// Whether `peer` is one of the trusted proxies.
pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = canonical(peer);
    trusted.iter().any(|n| n.contains(&peer))
}

/// IPv4-mapped IPv6 addresses count as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client's address: the peer, or (behind trusted proxies) the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return canonical(peer);
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip, trusted))
        .map(canonical)
        .unwrap_or(canonical(peer))
}

/// Sets `X-Forwarded-For`/`-Proto`/`-Host` on a request going to the store.
/// From an untrusted peer the client's own forwarding headers are dropped first.
pub fn set_forwarding(
    headers: &mut HeaderMap,
    peer: IpAddr,
    trusted_peer: bool,
    secure: bool,
    host: Option<HeaderValue>,
) {
    let peer = canonical(peer);
    if !trusted_peer {
        for name in FORWARDING {
            headers.remove(*name);
        }
    }
    let previous: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let xff = if previous.is_empty() {
        peer.to_string()
    } else {
        format!("{}, {peer}", previous.join(", "))
    };
    headers.remove("x-forwarded-for");
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    if !headers.contains_key("x-forwarded-proto") {
        let proto = if secure { "https" } else { "http" };
        headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    }
    if !headers.contains_key("x-forwarded-host") {
        if let Some(h) = host {
            headers.insert("x-forwarded-host", h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_listed_go() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("proxy-foo", "1"),
            ("content-type", "text/xml"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("content-type"));
    }

    #[test]
    fn untrusted_forwarding_replaced() {
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ]);
        let host = Some(HeaderValue::from_static("mail.example.fr"));
        set_forwarding(&mut h, "192.0.2.1".parse().unwrap(), false, false, host);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "mail.example.fr");
    }

    #[test]
    fn trusted_forwarding_appended() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = map(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        set_forwarding(&mut h, peer, is_trusted(peer, &trusted), false, None);
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
        let untrusted: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(untrusted, &h, &trusted), untrusted);
    }
}
