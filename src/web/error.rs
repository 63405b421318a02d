//! The one error type of the HTTP surface: renders `{"error":{"code","message"}}` with the
//! right status, and the extractor error handlers that turn malformed or oversize bodies into
//! that same shape instead of actix's plain-text defaults.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};
use serde::Serialize;

/// An error answered to an HTTP client. Internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`, `invalid_json`.
    pub code: &'static str,
    /// Human-readable message that says what to fix.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// Seconds to wait before retrying (429), sent as `Retry-After`.
    pub retry_after: Option<u64>,
    /// Extra machine-readable fields of the error object (e.g. `balance` and `resets_at`
    /// of `credits_exhausted`).
    pub details: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// Builds an error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            details: None,
        }
    }

    /// 402 `credits_exhausted`: the operation was refused before any work; the balance,
    /// cost and reset date are in the message and as fields.
    pub fn credits_exhausted(x: &crate::credits::Exhausted) -> Self {
        let mut details = serde_json::Map::new();
        details.insert("balance".into(), x.balance.into());
        details.insert("cost".into(), x.cost.into());
        details.insert("operation".into(), x.operation.into());
        details.insert("resets_at".into(), x.resets_at.clone().into());
        Self {
            details: Some(Box::new(details)),
            ..Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "credits_exhausted",
                x.to_string(),
            )
        }
    }

    /// 400 with a message naming what is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: unknown id, or an object of another tenant (never distinguishable).
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 500; the cause is logged here and hidden from the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// 503 while a dependency (the database) is not available.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        resp.json(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                details: self.details.as_deref(),
            },
        })
    }
}

impl ApiError {
    /// 507 when the data volume is full: the write was refused whole, reads keep working,
    /// and writes succeed again once space is freed (no restart needed).
    pub fn disk_full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            "the appliance's data volume is full: nothing was saved; reads keep working, and writes resume once an operator frees space",
        )
    }

    /// 503 with `Retry-After: 1` when a database lock stayed held past the busy timeout
    /// (a long backup or restore in another process): nothing was saved, a retry can succeed.
    pub fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the database is busy (another operation holds it); nothing was saved, retry shortly",
            )
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(err: crate::store::Error) -> Self {
        match err {
            crate::store::Error::NotFound => ApiError::not_found("not found"),
            e if e.is_disk_full() => {
                tracing::error!(error = %e, "write refused: data volume full");
                ApiError::disk_full()
            }
            e if e.is_busy() => {
                tracing::warn!(error = %e, "database busy past the busy timeout");
                ApiError::busy()
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::auth::Error> for ApiError {
    fn from(err: crate::auth::Error) -> Self {
        use crate::auth::Error as E;
        match err {
            E::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                err.to_string(),
            ),
            E::Throttled(secs) => ApiError {
                retry_after: Some(secs),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "throttled", err.to_string())
            },
            E::Busy(secs) => ApiError {
                retry_after: Some(secs),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", err.to_string())
            },
            E::Unauthenticated(m) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m),
            E::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            E::MfaEnrollmentRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                err.to_string(),
            ),
            E::Invalid { field, message } => ApiError {
                field: Some(field.to_string()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            E::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            E::Gone(m) => ApiError::new(StatusCode::GONE, "gone", m),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            E::Store(e) => e.into(),
            E::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        ApiError::internal(err)
    }
}

/// JSON extractor errors: oversize → 413, wrong content type → 415, otherwise 400 naming the
/// parse problem (serde's message includes the field and expected type).
pub fn json_error(err: error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        error::JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is {length} bytes; the limit is {limit}"),
        ),
        error::JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        error::JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        error::JsonPayloadError::Deserialize(e) => {
            let code = if e.is_data() {
                "invalid_field"
            } else {
                "invalid_json"
            };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("invalid JSON body: {e}"),
            )
        }
        other => ApiError::bad_request(format!("invalid JSON body: {other}")),
    };
    error::InternalError::from_response(err, api.error_response()).into()
}

/// Form extractor errors, same rules as [`json_error`].
pub fn form_error(err: error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        error::UrlencodedError::Overflow { size, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("form body is {size} bytes; the limit is {limit}"),
        ),
        error::UrlencodedError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected an application/x-www-form-urlencoded form",
        ),
        other => ApiError::bad_request(format!("invalid form: {other}")),
    };
    error::InternalError::from_response(err, api.error_response()).into()
}

/// Query-string extractor errors → 400 naming the parameter problem.
pub fn query_error(err: error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("invalid query parameters: {err}"),
    );
    error::InternalError::from_response(err, api.error_response()).into()
}

/// Path extractor errors → 404 (a malformed id is just an unknown id).
pub fn path_error(err: error::PathError, _req: &HttpRequest) -> actix_web::Error {
    let api = ApiError::not_found(format!("not found: {err}"));
    error::InternalError::from_response(err, api.error_response()).into()
}
