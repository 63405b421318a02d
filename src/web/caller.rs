//! Authentication as extractors. [`Caller`] resolves `X-API-Key`, an OAuth access token in
//! `Authorization: Bearer` (issue 24) or the session cookie, checks
//! the CSRF token on state-changing cookie requests, and refuses sessions that still have to
//! enroll a second factor. [`Enrolling`] is the same without that last check, for the few
//! endpoints such a session may use (me, MFA enrollment, logout).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::{ApiError, AppState};
use crate::auth::{self, Caller, Via, secrets};

/// Name of the session cookie over plain http; over https it is `__Host-rampart_session`
/// (see [`super::cookies`]).
pub const SESSION_COOKIE: &str = super::cookies::SESSION;
/// Header carrying the CSRF token on cookie-authenticated state changes.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Header choosing the workspace of a session request (API clients).
pub const WORKSPACE_HEADER: &str = "X-Workspace-Id";

/// A caller that may still be enrolling MFA.
pub struct Enrolling(pub Caller);

struct Raw {
    api_key: Option<String>,
    bearer: Option<String>,
    session: Option<String>,
    csrf: Option<String>,
    workspace: Option<String>,
    preferred_workspace: Option<String>,
    unsafe_method: bool,
}

fn raw(req: &HttpRequest) -> Raw {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Raw {
        api_key: header("X-API-Key"),
        bearer: header("Authorization").and_then(|v| {
            (v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
                .then(|| v[7..].trim().to_string())
        }),
        session: req
            .cookie(super::cookies::session_name())
            .map(|c| c.value().to_string()),
        csrf: header(CSRF_HEADER),
        workspace: header(WORKSPACE_HEADER),
        preferred_workspace: req
            .cookie(super::cookies::workspace_name())
            .map(|c| c.value().to_string()),
        unsafe_method: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
    }
}

async fn resolve(req: HttpRequest, allow_enrolling: bool) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let raw = raw(&req);
    let auth = state.auth.clone();
    let (api_key, bearer, session, workspace, preferred) = (
        raw.api_key,
        raw.bearer,
        raw.session,
        raw.workspace,
        raw.preferred_workspace,
    );
    // A key seen since the platform database last changed needs no read and no hop to the
    // blocking pool (issue 18); its workspace binding is checked like a fresh one's.
    let cached = api_key.as_deref().and_then(|k| auth.cached_api_key(k));
    let caller = match cached {
        Some(caller) => bound_to(caller, workspace.as_deref())?,
        None => {
            // The REST API is the resource `<public_url>`: only tokens for that audience.
            let audience = [super::oauth::base(&state)];
            web::block(move || match (api_key, bearer, session) {
                (Some(key), _, _) => bound_to(auth.authenticate_api_key(&key)?, workspace.as_deref()),
                // An OAuth access token: the rights of an API key of its scope, bound to its
                // workspace like a key.
                (None, Some(token), _) => bound_to(
                    auth.authenticate_oauth_token(&token, &audience)?,
                    workspace.as_deref(),
                ),
                (None, None, Some(token)) => {
                    let choice = match (&workspace, &preferred) {
                        (Some(w), _) => auth::WorkspaceChoice::Explicit(w),
                        (None, Some(p)) => auth::WorkspaceChoice::Preferred(p),
                        (None, None) => auth::WorkspaceChoice::Default,
                    };
                    auth.authenticate_session(&token, choice)
                }
                (None, None, None) => Err(auth::Error::Unauthenticated(
                    "authentication required: sign in, send an API key in X-API-Key, or an OAuth access token in Authorization: Bearer".into(),
                )),
            })
            .await??
        }
    };
    if let Via::Session { csrf_token, .. } = &caller.via
        && raw.unsafe_method
        && !raw
            .csrf
            .as_deref()
            .is_some_and(|t| secrets::ct_eq(t, csrf_token))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("missing or wrong {CSRF_HEADER} header (get the token from GET /api/me)"),
        ));
    }
    if caller.mfa_enrollment_pending && !allow_enrolling {
        return Err(auth::Error::MfaEnrollmentRequired.into());
    }
    Ok(caller)
}

/// A key or token is bound to its workspace; naming another one in `X-Workspace-Id` is a
/// mistake, not a switch.
fn bound_to(caller: Caller, workspace: Option<&str>) -> Result<Caller, auth::Error> {
    match workspace {
        Some(w) if w != caller.workspace_id => Err(auth::Error::NotFound("workspace")),
        _ => Ok(caller),
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(resolve(req.clone(), false))
    }
}

impl FromRequest for Enrolling {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(req, true).await.map(Enrolling) })
    }
}

/// Client address and user agent for throttling, session metadata and the audit log.
///
/// The address is the TCP peer, unless the peer is one of `server.trusted_proxies`: then
/// `X-Forwarded-For` is read from the right, skipping trusted hops, and the first untrusted
/// address is the client (what the nearest trusted proxy saw). Without trusted proxies the
/// header is ignored: any client could write it.
pub fn client_info(req: &HttpRequest) -> crate::auth::sessions::ClientInfo {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.trusted_proxy_nets())
        .unwrap_or_default();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("X-Forwarded-For")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = req
        .peer_addr()
        .map(|a| client_ip(a.ip(), &forwarded, &trusted).to_string())
        .unwrap_or_default();
    crate::auth::sessions::ClientInfo {
        ip,
        user_agent: req
            .headers()
            .get("User-Agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    }
}

/// The client address behind a chain of proxies: `peer` unless it is trusted, else the
/// rightmost untrusted address of the `X-Forwarded-For` values (in header order). When every
/// hop is trusted, the leftmost one; an unreadable entry ends the walk at the last good hop.
pub fn client_ip(
    peer: std::net::IpAddr,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut current = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return current;
        };
        current = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    current
}

/// An `X-Forwarded-For` entry: an IP, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    hop.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_without_trusted_proxies() {
        let peer = "203.0.113.9".parse().expect("ip");
        assert_eq!(client_ip(peer, &["1.2.3.4"], &[]), peer);
        let untrusted_peer = "198.51.100.7".parse().expect("ip");
        assert_eq!(
            client_ip(untrusted_peer, &["1.2.3.4"], &nets(&["10.0.0.0/8"])),
            untrusted_peer
        );
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        let peer = "10.0.0.5".parse().expect("ip");
        // The client forged the leftmost entry; the proxy appended the real address.
        assert_eq!(
            client_ip(peer, &["6.6.6.6, 203.0.113.9"], &trusted).to_string(),
            "203.0.113.9"
        );
        // Two trusted hops, across two header lines.
        assert_eq!(
            client_ip(peer, &["6.6.6.6, 203.0.113.9", "192.168.1.1"], &trusted).to_string(),
            "203.0.113.9"
        );
        // Ports and IPv6.
        assert_eq!(
            client_ip(peer, &["[2001:db8::1]:443"], &trusted).to_string(),
            "2001:db8::1"
        );
        // Everything trusted: the leftmost hop.
        assert_eq!(
            client_ip(peer, &["10.1.1.1, 10.2.2.2"], &trusted).to_string(),
            "10.1.1.1"
        );
        // Garbage stops the walk at the last readable hop; no header: the proxy itself.
        assert_eq!(
            client_ip(peer, &["junk, 10.2.2.2"], &trusted).to_string(),
            "10.2.2.2"
        );
        assert_eq!(client_ip(peer, &[], &trusted), peer);
    }
}
