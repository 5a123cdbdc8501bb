//! The shared-secret check in front of the filter endpoints.
//!
//! The LMS steps send `Authorization: Bearer <shared secret>`. The token is compared in
//! constant time (only its length can show through timing), and never logged.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::problem::Error;
use crate::state::AppState;

/// Middleware: passes the request on only with the right bearer token, answers 401 otherwise.
pub(crate) async fn require_bearer(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(request.headers(), state.secret()) {
        next.run(request).await
    } else {
        Error::Unauthorized.into_response()
    }
}

/// Whether the headers carry `Bearer <secret>` (scheme case-insensitive, as RFC 9110 says).
fn authorized(headers: &HeaderMap, secret: &SecretString) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let expected = secret.expose_secret().as_bytes();
    token.trim().as_bytes().ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(value: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        authorized(&headers, &SecretString::from("s3cret"))
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert!(check(Some("Bearer s3cret")));
        assert!(check(Some("bearer s3cret")));
        for wrong in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Basic s3cret"),
            Some("s3cret"),
        ] {
            assert!(!check(wrong), "{wrong:?}");
        }
    }
}
