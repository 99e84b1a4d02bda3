//! Bearer tokens (RFC 6750): only from `Authorization: Bearer …`, never
//! from the query string; one generic message to the client, the detail
//! in the log.

use std::sync::Arc;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::jwt::Rules;
use super::{Jwt, JwtError};
use crate::extract::{FromRequest, RequestContext};
use crate::inject::{Dep, Inject, Needs};
use crate::openapi::{Describe, Operation};
use crate::response::{ApiError, IntoResponse, Response};
use crate::service::{Middleware, Next, Request};

/// Claims of a token already verified for this request (by [`BearerAuth`],
/// the rate limiter or a [`Claims`] extractor), kept in the request's
/// extensions: the JSON object's text as the token carried it, and its
/// `sub`. Made by [`Jwt::verify_claims`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    json: Arc<str>,
    subject: Option<Arc<str>>,
    /// The rules they were verified under.
    rules: Rules,
}

impl VerifiedClaims {
    pub(crate) fn new(json: &str, subject: Option<&str>, rules: Rules) -> Self {
        VerifiedClaims {
            json: json.into(),
            subject: subject.map(Arc::from),
            rules,
        }
    }

    /// The claims, a JSON object.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The claims as `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.json)
    }

    /// The `sub` claim, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `sub` claim, shared.
    pub(crate) fn shared_subject(&self) -> Option<&Arc<str>> {
        self.subject.as_ref()
    }

    /// Whether the claims grant `role`, in any of the forms tokens use:
    /// `role` or `roles` as a string or an array of strings, or an OAuth
    /// 2.0 `scope` (RFC 8693 §4.2: space-separated).
    pub fn has_role(&self, role: &str) -> bool {
        let Ok(claims) = serde_json::from_str::<Map<String, Value>>(&self.json) else {
            return false;
        };
        let grants = |value: &Value| match value {
            Value::String(one) => one == role,
            Value::Array(many) => many.iter().any(|r| r.as_str() == Some(role)),
            _ => false,
        };
        claims.get("role").is_some_and(grants)
            || claims.get("roles").is_some_and(grants)
            || claims
                .get("scope")
                .and_then(Value::as_str)
                .is_some_and(|scope| scope.split(' ').any(|s| s == role))
    }
}

/// Why a request was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer credentials: 401 with `WWW-Authenticate: Bearer`.
    #[error("authentication required")]
    Missing,
    /// Credentials that do not verify: 401 with `error="invalid_token"`.
    #[error("invalid token")]
    Invalid(#[source] JwtError),
    /// Authenticated, but without the role: 403.
    #[error("the `{0}` role is required")]
    Forbidden(&'static str),
    /// The claims cannot be read as the handler's claims type: the token
    /// is not one this route accepts, a 401 `invalid_token`.
    #[error("the token's claims do not fit")]
    Claims(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let error = match &self {
            AuthError::Missing => ApiError::unauthorized("authentication required")
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            AuthError::Invalid(detail) => {
                tracing::warn!(error = %detail, "bearer token refused");
                ApiError::unauthorized("invalid token").with_header(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                )
            }
            AuthError::Forbidden(role) => {
                ApiError::forbidden(format!("the `{role}` role is required"))
            }
            AuthError::Claims(detail) => {
                tracing::warn!(error = %crate::text::untrusted(detail), "token claims do not fit the handler");
                ApiError::unauthorized("invalid token").with_header(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                )
            }
        };
        crate::response::refused(error.into_response())
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The request's verified claims: those an earlier layer attached, else
/// its bearer token's verified with `jwt` (and attached, so that later
/// layers and the handler do not verify it again).
pub(crate) fn claims_of<'r>(
    request: &'r mut Request,
    jwt: Option<&Jwt>,
) -> Option<&'r VerifiedClaims> {
    if request.extensions().get::<VerifiedClaims>().is_none()
        && let Some(jwt) = jwt
        && let Some(token) = bearer_token(request.headers())
        && let Ok(claims) = jwt.verify_claims(token)
    {
        request.extensions_mut().insert(claims);
    }
    request.extensions().get::<VerifiedClaims>()
}

/// Verifies the request's bearer token with `jwt`, once per request.
fn verify(jwt: &Jwt, headers: &HeaderMap) -> Result<VerifiedClaims, AuthError> {
    let token = bearer_token(headers)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    jwt.verify_claims(token).map_err(AuthError::Invalid)
}

/// A layer that lets only requests with a valid bearer token through;
/// their claims go into the extensions for [`Claims`] and the rate limiter.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    jwt: Arc<Jwt>,
}

impl BearerAuth {
    /// Verifies with `jwt`.
    pub fn new(jwt: Arc<Jwt>) -> Self {
        BearerAuth { jwt }
    }
}

impl Middleware for BearerAuth {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        match verify(&self.jwt, request.headers()) {
            Ok(claims) => {
                request.extensions_mut().insert(claims);
                next.run(request).await
            }
            Err(error) => error.into_response(),
        }
    }

    fn describe(&self, op: &mut Operation<'_>) {
        op.bearer();
    }
}

/// The verified claims of the request's bearer token, as `T` (by default
/// the raw JSON object). A handler that takes it needs a valid token:
/// 401 without one, and 401 `invalid_token` for a token whose claims
/// cannot be read as `T`. Verifies with the app's `Jwt` (`App::provide(jwt)`),
/// unless a [`BearerAuth`] layer already did.
#[derive(Debug, Clone)]
pub struct Claims<T = Map<String, Value>>(pub T);

impl<T> std::ops::Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The request's verified claims, verifying them (and remembering them)
/// unless a layer already did under the same rules as the app's `Jwt`:
/// claims a differently configured verifier accepted (another audience,
/// other keys) are not trusted here. Always takes the `Jwt` from the
/// scope, so that the dependency cursor stays in step.
fn verified(ctx: &mut RequestContext<'_>) -> Result<VerifiedClaims, AuthError> {
    let jwt = <Dep<Jwt> as Inject>::resolve(&mut ctx.scope());
    if let Some(claims) = ctx.extensions().get::<VerifiedClaims>()
        && claims.rules == jwt.rules()
    {
        return Ok(claims.clone());
    }
    let claims = verify(&jwt, ctx.headers())?;
    ctx.extensions_mut().insert(claims.clone());
    Ok(claims)
}

/// A bearer token: `bearerAuth`, and a 401 without a valid one.
impl<T: DeserializeOwned + Send> Describe for Claims<T> {
    fn describe(op: &mut Operation<'_>) {
        op.bearer();
    }
}

impl<T: DeserializeOwned + Send> FromRequest for Claims<T> {
    type Rejection = AuthError;

    fn declare(needs: &mut Needs) {
        <Dep<Jwt> as Inject>::declare(needs);
    }

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, AuthError> {
        let claims = verified(ctx)?;
        claims
            .deserialize()
            .map(Claims)
            .map_err(|e| AuthError::Claims(e.to_string()))
    }
}

/// What `#[route(…, role = "admin")]` runs before the handler's own
/// extractors: a valid token with that role, else 401 / 403.
pub(crate) fn require_role(
    ctx: &mut RequestContext<'_>,
    role: &'static str,
) -> Result<(), AuthError> {
    let claims = verified(ctx)?;
    if claims.has_role(role) {
        Ok(())
    } else {
        Err(AuthError::Forbidden(role))
    }
}
