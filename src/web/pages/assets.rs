//! Static files of the web app (`assets/static/`: CSS, JS, vendored htmx), embedded in the
//! binary with rust-embed and served under `/static/`. Templates link them as
//! `/static/<path>?v=<content hash>` ([`url`]), so they can be cached for a year and change
//! URL whenever their content changes. Nothing is loaded from a CDN.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

use super::page::PageError;

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Static;

/// Versioned URLs of every embedded file, computed once.
static URLS: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    Static::iter()
        .filter_map(|name| {
            let file = Static::get(&name)?;
            let hash = hex::encode(&file.metadata.sha256_hash()[..6]);
            let url: &'static str = Box::leak(format!("/static/{name}?v={hash}").into_boxed_str());
            Some((name.to_string(), url))
        })
        .collect()
});

/// The versioned URL of an embedded file, e.g. `url("app.css")` →
/// `/static/app.css?v=1a2b3c4d5e6f`. An unknown name yields the plain path (and a 404).
pub fn url(name: &str) -> &'static str {
    URLS.get(name).copied().unwrap_or("/static/missing")
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /static/{path}`: the embedded file with long-lived caching and an ETag.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let name = path.into_inner();
    let file = Static::get(&name).ok_or_else(PageError::not_found)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(content_type(&name))
        .insert_header((header::ETAG, etag))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(file.data.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_content_hash() {
        let css = url("app.css");
        assert!(css.starts_with("/static/app.css?v="), "{css}");
        assert_eq!(css.len(), "/static/app.css?v=".len() + 12);
        assert!(url("vendor/htmx/htmx.min.js").starts_with("/static/vendor/htmx/htmx.min.js?v="));
        assert_eq!(url("nope.css"), "/static/missing");
    }
}
