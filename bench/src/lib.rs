//! Shared inputs of Portico's benchmarks (`cargo bench -p portico-bench`).

pub mod github;
pub mod three_deps;

use portico::prelude::*;

/// The load test's scenario (c): `GET /users/<id>` answering `{"id": …}`.
pub fn users_route() -> Vec<portico::Route> {
    #[derive(Serialize)]
    struct UserId {
        id: u64,
    }

    #[route(GET, "/users/<id>")]
    async fn user(id: u64) -> Json<UserId> {
        Json(UserId { id })
    }

    routes![user]
}

/// The value at quantile `p` (0 to 1) of `sorted`, which is not empty.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// The claims every JWT benchmark verifies into: what an API reads of its
/// tokens.
#[derive(Debug, serde::Deserialize)]
pub struct BenchClaims {
    /// The subject.
    pub sub: String,
    /// The role.
    pub role: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
}

#[cfg(test)]
mod tests {
    use super::github::{ROUTES, sample_path, to_matchit};
    use portico_runtime::router::{Lookup, Params, Router};

    /// Both routers must find the same route for every sample path, or the
    /// benchmark compares different work.
    #[test]
    fn portico_and_matchit_agree_on_every_github_route() {
        let mut portico = Router::new();
        let mut matchit = matchit::Router::new();
        for (i, (method, pattern)) in ROUTES.iter().enumerate() {
            portico.insert(method.clone(), pattern, i).unwrap();
            let _ = matchit.insert(to_matchit(pattern), *pattern);
        }
        for (i, (method, pattern)) in ROUTES.iter().enumerate() {
            let path = sample_path(pattern);
            let mut params = Params::default();
            match portico.lookup(method, &path, &mut params) {
                Lookup::Found { value, .. } => {
                    assert_eq!(*value, i, "{method} {path}");
                    let expected_params = pattern.matches('<').count();
                    assert_eq!(params.len(), expected_params, "{path}");
                }
                other => panic!("{method} {path}: {other:?}"),
            }
            let matched = matchit.at(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(*matched.value, *pattern, "matchit on {path}");
        }
    }
}
