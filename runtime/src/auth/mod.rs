//! Authentication: HS256 JSON Web Tokens, bearer credentials (a layer and
//! an extractor) and role guards.

mod bearer;
mod jwt;

pub use bearer::{AuthError, BearerAuth, Claims, VerifiedClaims};
pub(crate) use bearer::{claims_of, require_role};
pub use jwt::{Jwt, JwtBuilder, JwtError};
