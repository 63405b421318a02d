//! Requests the appliance makes to URLs that somebody else chose: a CI provider's OIDC
//! discovery and keys (an issuer a workspace trusts) and an OAuth client's metadata document
//! (a `client_id` URL from an unauthenticated `/oauth/authorize`). Such a URL must not turn
//! the appliance into a probe of its own network (SSRF), so every fetch here:
//! - is `https` only, without credentials or fragment, unless the operator allowed private
//!   networks (then `http` too);
//! - resolves the host once, refuses private, loopback, link-local and reserved addresses
//!   ([`is_public`]) unless allowed, and connects only to the addresses it vetted (no second
//!   lookup, so DNS rebinding gains nothing);
//! - follows redirects only on the same scheme, host and port, and few of them;
//! - reads a bounded body with short timeouts.
//!
//! Errors are details for the server log; callers answer their users with one generic
//! message whatever failed, so the answer reveals nothing about the network.

use std::io::Read as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

/// True for addresses on the public internet; false for private, loopback, link-local,
/// unspecified, multicast, documentation, shared (CGNAT) and reserved ranges, and for IPv6
/// forms that embed an IPv4 address or translate to one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] == 0)
                || s[0] == 0x2002
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0))
        }
    }
}

/// The rules one fetch runs under.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Allow private, loopback and link-local addresses and plain `http://` (an operator's
    /// explicit choice for internal services).
    pub allow_private: bool,
    /// Same-origin redirects followed; 0 refuses every redirect.
    pub max_redirects: usize,
    /// Largest body read.
    pub max_body: u64,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// Checks a URL someone configured or sent: `https://host[:port][/path]` (or `http://` when
/// private networks are allowed), no credentials or fragment, no query unless `query_ok`, and
/// no literal non-public IP address unless allowed. The message completes "<the URL> …".
pub fn check_url(raw: &str, allow_private: bool, query_ok: bool) -> Result<Url, String> {
    if raw.len() > 2000 {
        return Err("is longer than 2000 characters".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.fragment().is_some() || (!query_ok && url.query().is_some()) {
        return Err("must not have a query or fragment".into());
    }
    let Some(host) = url.host_str() else {
        return Err("has no host".into());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>()
        && !allow_private
        && !is_public(ip)
    {
        return Err("points to a private, loopback or link-local address".into());
    }
    Ok(url)
}

/// Scheme, host and port of a URL: what "the same origin" means for redirects.
pub fn origin(url: &Url) -> (String, String, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

/// Resolves the URL's host and vets every address it resolves to; returns them, to be the
/// only addresses the client may connect to.
pub fn vetted_addresses(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (bare, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {bare}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} has no address"));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{bare} resolves to the non-public address {} (private networks are not allowed)",
            a.ip()
        ));
    }
    Ok(addrs)
}

/// A client for `url` that connects only to its vetted addresses and follows only
/// same-origin redirects.
pub fn pinned_client(url: &Url, rules: Rules) -> Result<reqwest::blocking::Client, String> {
    let addrs = vetted_addresses(url, rules.allow_private)?;
    let home = origin(url);
    let max = rules.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= max || origin(attempt.url()) != home {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(rules.timeout)
        .connect_timeout(rules.timeout.min(Duration::from_secs(5)))
        .redirect(policy);
    if let Some(host) = url.host_str()
        && host.parse::<IpAddr>().is_err()
        && !host.starts_with('[')
    {
        builder = builder.resolve_to_addrs(host, &addrs);
    }
    builder.build().map_err(|e| e.to_string())
}

/// GET a JSON document of at most `max_body` bytes; 3xx (a redirect that was not followed)
/// and 4xx/5xx are errors.
pub fn get_json(
    client: &reqwest::blocking::Client,
    url: &str,
    max_body: u64,
) -> Result<Value, String> {
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let mut body = Vec::new();
    resp.take(max_body + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("{url}: {e}"))?;
    if body.len() as u64 > max_body {
        return Err(format!("{url}: larger than {max_body} bytes"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_non_public_addresses() {
        for ip in [
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2606:4700::1111",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "10.0.0.1",
            "172.16.5.4",
            "255.255.255.255",
            "::",
            "fc00::1",
            "fd12::1",
            "::ffff:169.254.169.254",
            "2002:a00:1::",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn urls_are_https_without_credentials_or_private_literals() {
        assert!(check_url("https://example.com/a", false, false).is_ok());
        assert!(check_url("https://example.com/a?x=1", false, true).is_ok());
        for (bad, why) in [
            ("http://example.com/a", "https"),
            ("https://u:p@example.com/a", "credentials"),
            ("https://example.com/a#f", "fragment"),
            ("https://example.com/a?x=1", "query"),
            ("https://127.0.0.1/a", "private"),
            ("https://[::1]/a", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("not a url", "not a URL"),
        ] {
            let err = check_url(bad, false, false).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(check_url("http://127.0.0.1:8080/x", true, false).is_ok());
    }

    #[test]
    fn a_private_address_is_refused_before_any_connection() {
        let url = Url::parse("https://127.0.0.1:9/x").expect("url");
        let rules = Rules {
            allow_private: false,
            max_redirects: 0,
            max_body: 10,
            timeout: Duration::from_secs(1),
        };
        let err = pinned_client(&url, rules).expect_err("loopback");
        assert!(err.contains("non-public"), "{err}");
    }
}
