//! What may be said about an endpoint URL, and what it says about the connection.
//!
//! - [`redact_url`]: the form of a URL that may appear in logs, errors and `Debug` output:
//!   no `user:password@` and no query string (both carry credentials in the wild).
//! - [`is_loopback`] and [`jwt_in_clear`]: whether a JWT sent to the URL crosses a network in
//!   clear text (plain `http://` to anything but `127.0.0.0/8`, `::1` or `localhost`).

use url::{Host, Url};

/// What replaces a hidden part.
const HIDDEN: &str = "***";

/// `url` with its user information and query replaced by `***` and its fragment dropped:
/// `https://user:pw@el:8551/path?key=k` becomes `https://***@el:8551/path?***`. The scheme,
/// host, port and path stay, so an operator can still tell endpoints apart (a credential put
/// in the path itself is not recognized). Text that does not parse as a URL is redacted the
/// same way by its delimiters, so a typo'd URL in an error message hides its password too.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                // Cannot fail for a URL with a host.
                let _ = parsed.set_password(None);
                let _ = parsed.set_username(HIDDEN);
            }
            if parsed.query().is_some() {
                parsed.set_query(Some(HIDDEN));
            }
            parsed.set_fragment(None);
            parsed.into()
        }
        _ => redact_text(url),
    }
}

/// [`redact_url`] for text that is not a URL with a host: everything before the last `@` of
/// the authority, and everything after a `?` or `#`, is hidden.
fn redact_text(text: &str) -> String {
    let (text, hidden_tail) = match text.find(['?', '#']) {
        Some(at) => (&text[..at], true),
        None => (text, false),
    };
    let authority_start = text.find("://").map_or(0, |at| at + 3);
    let authority_end =
        text[authority_start..].find('/').map_or(text.len(), |at| authority_start + at);
    let mut out = match text[authority_start..authority_end].rfind('@') {
        Some(at) => {
            format!("{}{HIDDEN}{}", &text[..authority_start], &text[authority_start + at..])
        }
        None => text.to_string(),
    };
    if hidden_tail {
        out.push('?');
        out.push_str(HIDDEN);
    }
    out
}

/// Whether `url` names this machine: an IPv4 address in `127.0.0.0/8`, `::1` (or an
/// IPv4-mapped loopback address), or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(Host::Domain(name)) => {
            name.strip_suffix('.').unwrap_or(name).eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// Whether a JWT sent to `url` travels in clear text over a network: plain `http://` to a
/// host that is not loopback (see [`is_loopback`]).
pub fn jwt_in_clear(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials and queries never survive; the rest of the URL does.
    #[test]
    fn redacts_credentials_and_queries() {
        let cases = [
            ("http://127.0.0.1:8551", "http://127.0.0.1:8551/"),
            ("https://el.example:8551/rpc", "https://el.example:8551/rpc"),
            ("http://user:hunter2@el.example:8551/", "http://***@el.example:8551/"),
            ("http://user@el.example/", "http://***@el.example/"),
            ("http://:hunter2@el.example/", "http://***@el.example/"),
            ("https://el.example/?apikey=hunter2#frag", "https://el.example/?***"),
            ("http://u:p%40ss@[::1]:8551/x", "http://***@[::1]:8551/x"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    /// Text that does not parse is redacted by its delimiters.
    #[test]
    fn redacts_what_does_not_parse() {
        let cases = [
            ("http://user:hunter2@el example:8551", "http://***@el example:8551"),
            ("user:hunter2@el.example:8551", "***@el.example:8551"),
            ("http://u:hunter2@host:notaport/p@th", "http://***@host:notaport/p@th"),
            ("el.example:8551?token=hunter2", "el.example:8551?***"),
            ("not a url", "not a url"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(redact_url(text), want, "{text}");
            assert!(!redact_url(text).contains("hunter2"), "{text}");
        }
    }

    /// Loopback is 127.0.0.0/8, ::1 (and its IPv4-mapped form) and localhost; everything
    /// else, including private ranges and names that resolve locally, is not.
    #[test]
    fn loopback_hosts() {
        let loopback = |u: &str| is_loopback(&Url::parse(u).unwrap());
        for url in [
            "http://127.0.0.1:8551",
            "http://127.8.9.10/",
            "http://[::1]:8551",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8551",
            "http://LOCALHOST./",
        ] {
            assert!(loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.1:8551",
            "http://192.168.1.5/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://el.localhost/",
            "http://localhost.example/",
            "http://geth:8551",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }

    /// Only plain http to a host that is not loopback sends the JWT in clear text.
    #[test]
    fn clear_text_decision() {
        let clear = |u: &str| jwt_in_clear(&Url::parse(u).unwrap());
        assert!(clear("http://10.0.0.1:8551"));
        assert!(clear("http://geth.internal:8551"));
        assert!(!clear("https://geth.internal:8551"));
        assert!(!clear("http://127.0.0.1:8551"));
        assert!(!clear("http://localhost:8551"));
        assert!(!clear("http://[::1]:8551"));
    }
}
