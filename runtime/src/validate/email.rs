//! E-mail and URL syntax checks, by hand and allocation-free.

/// The longest address SMTP carries (RFC 5321 §4.5.3.1.3: a 256-octet
/// path, angle brackets included).
pub(crate) const MAX_EMAIL: usize = 254;
/// The longest local part (RFC 5321 §4.5.3.1.1).
pub(crate) const MAX_LOCAL_PART: usize = 64;
/// The longest URL accepted: what browsers and servers commonly handle;
/// a longer one is refused before it is parsed or stored.
pub(crate) const MAX_URL: usize = 2048;

/// The WHATWG HTML "valid e-mail address" grammar:
/// `1*(atext / ".") "@" label *("." label)`, each label 1 to 63 letters,
/// digits or hyphens, not starting or ending with a hyphen; within RFC
/// 5321's lengths. The grammar is ASCII, so it is checked on bytes (a
/// search for a `char` costs several times a byte's).
pub(crate) fn is_email(value: &str) -> bool {
    if value.len() > MAX_EMAIL {
        return false;
    }
    let bytes = value.as_bytes();
    let Some(at) = bytes.iter().rposition(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    !local.is_empty()
        && local.len() <= MAX_LOCAL_PART
        && local.iter().all(|&b| b == b'.' || is_atext(b))
        && !domain.is_empty()
        && domain.split(|&b| b == b'.').all(is_label)
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
                | b'-'
        )
}

fn is_label(bytes: &[u8]) -> bool {
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// An absolute URL in RFC 3986 syntax with an authority:
/// `scheme "://" [userinfo "@"] host [":" port] [path] ["?" query] ["#" fragment]`,
/// with a non-empty host and no whitespace or control characters.
pub(crate) fn is_url(value: &str) -> bool {
    if value.len() > MAX_URL {
        return false;
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    if !scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return false;
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, after)) => {
                if addr.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (addr, after.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok());
    let host_ok = !host.is_empty()
        && (host_port.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
            || !host.is_ascii());
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_capped_by_rfc_5321_and_for_urls() {
        let local = "l".repeat(MAX_LOCAL_PART);
        let label = "d".repeat(63);
        let domain = format!("{label}.{label}.{label}.{}", "e".repeat(57));
        assert!(is_email(&format!("{local}@x.com")));
        assert!(!is_email(&format!("{local}l@x.com")), "local part over 64");
        let longest = format!("{}@{domain}", "l".repeat(MAX_EMAIL - domain.len() - 1));
        assert_eq!(longest.len(), MAX_EMAIL);
        assert!(!is_email(&format!("{longest}x")) && !is_email(&"a@b".repeat(1_000_000)));
        let url = format!("https://example.com/{}", "p".repeat(MAX_URL - 20));
        assert_eq!(url.len(), MAX_URL);
        assert!(is_url(&url));
        assert!(!is_url(&format!("{url}p")));
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b",
            "alice@example.com",
            "first.last+tag@sub.example.co.uk",
            "x!#$%&'*+/=?^_`{|}~-@a-b.c",
            &format!("a@{}.com", "l".repeat(63)),
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "not-an-email",
            "@example.com",
            "alice@",
            "alice@-example.com",
            "alice@example-.com",
            "alice@exa_mple.com",
            "alice@example..com",
            "alice@.example.com",
            "al ice@example.com",
            "alice@exam ple.com",
            "ali(ce)@example.com",
            "jörg@example.com",
            &format!("a@{}.com", "l".repeat(64)),
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn urls() {
        for ok in [
            "http://example.com",
            "https://example.com:8443/a/b?q=1#frag",
            "ftp://user:pw@files.example.org/",
            "http://[::1]:8080/",
            "postgres://localhost/app",
            "http://bücher.example/",
        ] {
            assert!(is_url(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "http://",
            "http:///path",
            "1http://example.com",
            "http://exa mple.com",
            "http://example.com:99999",
            "http://[zz::1]/",
            "http://[::1/",
            "mailto:alice@example.com",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }
}
