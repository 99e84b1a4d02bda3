//! The scrape's formats: OpenMetrics as `prometheus-client` writes it, the
//! Prometheus text format (0.0.4) made from it, which one the scraper
//! asked for, and the scrape token's check.

use http::HeaderValue;
use http::header::GetAll;

/// The OpenMetrics text's content type.
pub(super) const OPEN_METRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's content type.
pub(super) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether `Accept` lists OpenMetrics with a weight above zero (Prometheus
/// asks for it first; `curl` and older scrapers do not ask).
pub(super) fn wants_open_metrics(accept: GetAll<'_, HeaderValue>) -> bool {
    accept
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && !parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
}

/// The Prometheus text format of an OpenMetrics text: no `# UNIT` and no
/// `# EOF`, and a counter's `HELP` and `TYPE` name its `_total` sample
/// (OpenMetrics names the family, 0.0.4 the sample).
pub(super) fn classic(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Whether `header` is `Bearer <token>`, compared in constant time so the
/// answer's timing tells nothing of the token.
pub(super) fn bearer_matches(header: Option<&HeaderValue>, token: &str) -> bool {
    let Some(given) = header.and_then(|value| value.as_bytes().strip_prefix(b"Bearer ")) else {
        return false;
    };
    let expected = token.as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_metrics_is_chosen_only_when_asked_for_with_weight() {
        let accepts = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::ACCEPT, HeaderValue::from_static(value));
            wants_open_metrics(headers.get_all(http::header::ACCEPT))
        };
        assert!(accepts(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"
        ));
        assert!(!accepts("text/plain;version=0.0.4"));
        assert!(!accepts("application/openmetrics-text;q=0"));
        assert!(!accepts("*/*"));
    }

    #[test]
    fn the_classic_text_names_counters_by_their_samples() {
        let open = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n# HELP t_seconds Time.\n# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds 1.0\n# EOF\n";
        assert_eq!(
            classic(open),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total 3\n# HELP t_seconds Time.\n# TYPE t_seconds gauge\nt_seconds 1.0\n"
        );
    }

    #[test]
    fn only_the_exact_token_opens_the_scrape() {
        let token = "s3cret-token";
        let header = |value: &'static str| Some(HeaderValue::from_static(value));
        assert!(bearer_matches(
            header("Bearer s3cret-token").as_ref(),
            token
        ));
        assert!(!bearer_matches(
            header("Bearer s3cret-tokeN").as_ref(),
            token
        ));
        assert!(!bearer_matches(
            header("Bearer s3cret-token2").as_ref(),
            token
        ));
        assert!(!bearer_matches(header("s3cret-token").as_ref(), token));
        assert!(!bearer_matches(None, token));
    }
}
