//! Authentication: HS256 JSON Web Tokens, bearer credentials (a layer and
//! an extractor) and role guards.

mod bearer;
mod jwt;

pub(crate) use bearer::require_role;
pub use bearer::{AuthError, BearerAuth, Claims, VerifiedClaims};
pub use jwt::{Jwt, JwtBuilder, JwtError};
