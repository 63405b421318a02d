//! Names and attributes of every cookie the appliance sets, decided once from the public URL.
//!
//! When users reach the appliance over https (`server.public_url` starts with `https://`, or
//! the listener itself speaks TLS), every cookie is `Secure`, even when TLS ends at a reverse
//! proxy in front of a plain-http listener, and cookies scoped to `/` carry the `__Host-`
//! prefix: a browser then accepts them only from this exact origin over https, without a
//! `Domain` attribute, so a sibling subdomain cannot plant or overwrite a session or CSRF
//! cookie. The pre-auth cookie is scoped to `/login` and gets `__Secure-` instead (the
//! `__Host-` prefix requires `Path=/`). Over plain http (development, loopback tests) the
//! names stay unprefixed and `Secure` is off, because browsers would drop such cookies.
//!
//! The policy is process-wide: `web::serve` installs it before the first request; code that
//! runs without a server (unit tests) sees the plain-http policy.

use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite};

/// Session cookie name over plain http.
pub const SESSION: &str = "rampart_session";
/// Session cookie name over https.
pub const SESSION_HTTPS: &str = "__Host-rampart_session";

static SECURE: OnceLock<bool> = OnceLock::new();

/// Sets the policy for this process (first call wins). `secure` is true when the public URL
/// is https.
pub fn install(secure: bool) {
    if SECURE.set(secure).is_err() && SECURE.get() != Some(&secure) {
        tracing::warn!("cookie policy already installed with a different setting; keeping it");
    }
}

/// True when cookies are `Secure` (and prefixed).
pub fn secure() -> bool {
    SECURE.get().copied().unwrap_or(false)
}

/// The session cookie's name.
pub fn session_name() -> &'static str {
    if secure() { SESSION_HTTPS } else { SESSION }
}

/// The pre-session double-submit CSRF cookie's name.
pub fn login_csrf_name() -> &'static str {
    if secure() {
        "__Host-rampart_login_csrf"
    } else {
        "rampart_login_csrf"
    }
}

/// The pre-auth cookie's name (between password and second factor, `Path=/login`).
pub fn preauth_name() -> &'static str {
    if secure() {
        "__Secure-rampart_preauth"
    } else {
        "rampart_preauth"
    }
}

/// The one-shot flash message cookie's name.
pub fn flash_name() -> &'static str {
    if secure() {
        "__Host-rampart_flash"
    } else {
        "rampart_flash"
    }
}

/// The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` on https.
pub fn session(token: &str) -> Cookie<'static> {
    Cookie::build(session_name(), token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure())
        .finish()
}

/// The name of the cookie remembering the web app's chosen workspace.
pub fn workspace_name() -> &'static str {
    if secure() {
        "__Host-rampart_workspace"
    } else {
        "rampart_workspace"
    }
}

/// The workspace choice of the web app (a preference, not a credential): `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, `Secure` on https.
pub fn workspace(id: &str) -> Cookie<'static> {
    Cookie::build(workspace_name(), id.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure())
        .finish()
}

/// A cookie that removes the workspace choice.
pub fn workspace_removal() -> Cookie<'static> {
    let mut c = workspace("");
    c.make_removal();
    c
}

/// A cookie that removes the session cookie.
pub fn session_removal() -> Cookie<'static> {
    let mut c = session("");
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_policy_by_default() {
        // Unit tests never install a policy: the plain-http names apply.
        assert!(!secure());
        assert_eq!(session_name(), SESSION);
        let c = session("t");
        assert_eq!(c.secure(), Some(false));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.path(), Some("/"));
    }
}
