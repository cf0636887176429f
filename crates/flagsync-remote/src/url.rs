//! Base-URL policy and path-segment encoding.

use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::error::{RemoteError, Result, Service};

/// Everything except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
///
/// This is a superset of the WHATWG path-segment set plus `/` and `%`: it also encodes `&`,
/// `+`, `;`, `=`, `:` and `@`, which servers decode identically but which some proxies and
/// frameworks treat specially inside a segment. A name can never change the path's shape.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment.
///
/// `.` and `..` cannot be sent as a segment at all: URL parsers (ours included) resolve them,
/// even when written `%2E`, so a flag named `..` would address its parent. They are refused
/// with [`RemoteError::InvalidName`] before anything is sent.
pub fn encode_segment(what: &'static str, name: &str) -> Result<String> {
    if name == "." || name == ".." {
        return Err(RemoteError::InvalidName {
            what,
            name: name.to_owned(),
            reason: "`.` and `..` cannot be used as a URL path segment",
        });
    }
    if name.is_empty() {
        return Err(RemoteError::InvalidName {
            what,
            name: String::new(),
            reason: "the name is empty",
        });
    }
    Ok(utf8_percent_encode(name, SEGMENT).to_string())
}

/// A checked base URL: `https://`, or `http://` to loopback (or anywhere when explicitly
/// allowed). Without credentials, query or fragment; the trailing `/` removed.
#[derive(Clone, Debug)]
pub(crate) struct BaseUrl {
    /// Serialized without trailing slash; request paths are appended to it.
    base: String,
}

impl BaseUrl {
    pub(crate) fn parse(raw: &str, allow_insecure_http: bool) -> Result<Self> {
        let url = Url::parse(raw.trim()).map_err(|e| RemoteError::InvalidUrl {
            url: raw.to_owned(),
            reason: e.to_string(),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            // Do not echo the URL: the userinfo is a credential.
            return Err(RemoteError::InvalidUrl {
                url: "<redacted>".to_owned(),
                reason: "credentials in the URL are not supported; use the token settings"
                    .to_owned(),
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(RemoteError::InvalidUrl {
                url: raw.to_owned(),
                reason: "a base URL cannot have a query or fragment".to_owned(),
            });
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        match url.scheme() {
            "https" => {}
            "http" => {
                if !allow_insecure_http && !is_loopback_host(&host) {
                    return Err(RemoteError::InsecureUrl { host });
                }
            }
            other => {
                return Err(RemoteError::InvalidUrl {
                    url: raw.to_owned(),
                    reason: format!("unsupported scheme {other:?}; use https"),
                });
            }
        }
        if host.is_empty() {
            return Err(RemoteError::InvalidUrl {
                url: raw.to_owned(),
                reason: "no host".to_owned(),
            });
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { base })
    }

    /// The base URL, without trailing slash.
    pub(crate) fn as_str(&self) -> &str {
        &self.base
    }

    /// Joins already-encoded path text (starting with `/`) and an optional query.
    pub(crate) fn join(&self, encoded_path: &str, query: &[(&str, &str)]) -> Result<Url> {
        let mut url = Url::parse(&format!("{}{}", self.base, encoded_path)).map_err(|e| {
            RemoteError::InvalidUrl {
                url: format!("{}{}", self.base, encoded_path),
                reason: e.to_string(),
            }
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}

/// `scheme://host[:port]` of `raw` when it is a URL whose host is loopback (a local
/// emulator), else `None`.
pub fn loopback_origin(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    let host = url.host_str()?;
    if !matches!(url.scheme(), "http" | "https") || !is_loopback_host(host) {
        return None;
    }
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// The hosts CloudBees documents for its APIs: the legacy public API the client defaults to,
/// and CloudBees Unify's.
pub const CLOUDBEES_HOSTS: &[&str] = &["x-api.rollout.io", "api.cloudbees.io"];

/// The hosts Confidence documents for the APIs flagsync calls: those the client defaults to
/// in each region (rollouts have one global host), and the global flags and IAM hosts the
/// how-to guides use. `api.confidence.dev`, which only older documents show, is not one.
pub const CONFIDENCE_HOSTS: &[&str] = &[
    "experiments.confidence.dev",
    "flags.eu.confidence.dev",
    "flags.us.confidence.dev",
    "flags.confidence.dev",
    "stats.eu.confidence.dev",
    "stats.us.confidence.dev",
    "iam.eu.confidence.dev",
    "iam.us.confidence.dev",
    "iam.confidence.dev",
];

/// The documented hosts of `service`.
pub fn documented_hosts(service: Service) -> &'static [&'static str] {
    match service {
        // One vendor's token: the legacy and Unify hosts are both CloudBees'.
        Service::CloudBees | Service::Unify => CLOUDBEES_HOSTS,
        Service::Confidence => CONFIDENCE_HOSTS,
    }
}

/// The host of a URL as compared with [`documented_hosts`] and an allow-list: lower case,
/// without a trailing dot or IPv6 brackets. `None` when `raw` is not a URL with a host.
pub fn url_host(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    let host = url.host_str()?;
    Some(normalize_host(host))
}

/// `Example.COM.` → `example.com`; `[::1]` → `::1`.
pub fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether `service`'s credentials may go to the URL `raw` without anyone allowing it: its
/// host is one `service` documents, or loopback (a local emulator).
pub fn is_trusted_url(service: Service, raw: &str) -> bool {
    url_host(raw).is_some_and(|host| {
        is_loopback_host(&host) || documented_hosts(service).contains(&host.as_str())
    })
}

/// `localhost` (and its subdomains, which resolve to loopback by RFC 6761), 127.0.0.0/8, ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let lower = h.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        encode_segment("flag", s).unwrap()
    }

    #[test]
    fn encodes_everything_that_could_change_the_path() {
        assert_eq!(enc("plain-Name_1.2~x"), "plain-Name_1.2~x");
        assert_eq!(enc("with space"), "with%20space");
        assert_eq!(enc("a/b"), "a%2Fb");
        assert_eq!(enc("100%"), "100%25");
        assert_eq!(enc("a&b"), "a%26b");
        assert_eq!(enc("a#b"), "a%23b");
        assert_eq!(enc("a?b"), "a%3Fb");
        assert_eq!(enc("a+b=c;d:e@f"), "a%2Bb%3Dc%3Bd%3Ae%40f");
        assert_eq!(enc("Grüße"), "Gr%C3%BC%C3%9Fe");
        assert_eq!(enc("日本"), "%E6%97%A5%E6%9C%AC");
        assert_eq!(enc("a..b"), "a..b");
        assert_eq!(enc("%2F"), "%252F");
    }

    #[test]
    fn dot_segments_and_empty_names_are_refused() {
        assert!(matches!(
            encode_segment("flag", ".."),
            Err(RemoteError::InvalidName { .. })
        ));
        assert!(encode_segment("flag", ".").is_err());
        assert!(encode_segment("flag", "").is_err());
    }

    #[test]
    fn encoded_segments_survive_url_parsing() {
        let base = BaseUrl::parse("http://127.0.0.1:8080/public-api/", false).unwrap();
        let path = format!("/experiments/{}", enc("a/b c%d?e#f"));
        let url = base.join(&path, &[]).unwrap();
        assert_eq!(url.path(), "/public-api/experiments/a%2Fb%20c%25d%3Fe%23f");
        assert_eq!(url.query(), None);
        assert_eq!(url.path_segments().unwrap().count(), 3);
    }

    #[test]
    fn query_values_are_encoded() {
        let base = BaseUrl::parse("https://api.example.com", false).unwrap();
        let url = base
            .join(
                "/v1/x",
                &[("filter", "state:live & x=1"), ("pageSize", "100")],
            )
            .unwrap();
        assert_eq!(
            url.query(),
            Some("filter=state%3Alive+%26+x%3D1&pageSize=100")
        );
    }

    #[test]
    fn url_policy() {
        for ok in [
            "https://x-api.rollout.io/public-api",
            "http://127.0.0.1:1234",
            "http://127.8.9.10",
            "http://[::1]:99/x",
            "http://localhost:3000/",
            "http://LOCALHOST",
            "http://api.localhost",
        ] {
            assert!(BaseUrl::parse(ok, false).is_ok(), "{ok}");
        }
        for insecure in [
            "http://example.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
        ] {
            assert!(
                matches!(
                    BaseUrl::parse(insecure, false),
                    Err(RemoteError::InsecureUrl { .. })
                ),
                "{insecure}"
            );
            assert!(BaseUrl::parse(insecure, true).is_ok(), "{insecure}");
        }
        assert!(matches!(
            BaseUrl::parse("ftp://example.com", true),
            Err(RemoteError::InvalidUrl { .. })
        ));
        assert!(BaseUrl::parse("not a url", false).is_err());
        assert!(BaseUrl::parse("https://h/x?token=1", false).is_err());
    }

    #[test]
    fn credentials_in_urls_are_refused_without_echo() {
        let err = BaseUrl::parse("https://user:hunter2@example.com", false).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn loopback_origins() {
        assert_eq!(
            loopback_origin("http://127.0.0.1:8080/public-api").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            loopback_origin("http://[::1]:9/x").as_deref(),
            Some("http://[::1]:9")
        );
        assert_eq!(
            loopback_origin("https://localhost").as_deref(),
            Some("https://localhost")
        );
        assert_eq!(loopback_origin("https://x-api.rollout.io/public-api"), None);
        assert_eq!(loopback_origin("not a url"), None);
    }

    #[test]
    fn trusted_urls_are_the_documented_hosts_and_loopback() {
        use crate::{ConfidenceRegion, ConfidenceUrls, DEFAULT_CLOUDBEES_URL};
        assert!(is_trusted_url(Service::CloudBees, DEFAULT_CLOUDBEES_URL));
        assert!(is_trusted_url(
            Service::CloudBees,
            "https://API.cloudbees.io./v2"
        ));
        for region in [ConfidenceRegion::Eu, ConfidenceRegion::Us] {
            let urls = ConfidenceUrls::for_region(region);
            for url in [urls.experiments, urls.flags, urls.stats, urls.iam] {
                assert!(is_trusted_url(Service::Confidence, &url), "{url}");
                assert!(!is_trusted_url(Service::CloudBees, &url), "{url}");
            }
        }
        for local in ["http://127.0.0.1:9", "http://[::1]:9", "http://localhost"] {
            assert!(is_trusted_url(Service::Confidence, local), "{local}");
        }
        for foreign in [
            "https://evil.example",
            "https://x-api.rollout.io.evil.example",
            "https://evilconfidence.dev",
            "https://api.confidence.dev",
            "https://experiments.confidence.dev@evil.example",
            "not a url",
        ] {
            assert!(!is_trusted_url(Service::Confidence, foreign), "{foreign}");
            assert!(!is_trusted_url(Service::CloudBees, foreign), "{foreign}");
        }
        assert_eq!(
            url_host("https://Evil.Example.:8443/x").as_deref(),
            Some("evil.example")
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.255.255.254"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("::ffff:127.0.0.1"));
        assert!(is_loopback_host("localhost."));
        assert!(!is_loopback_host("128.0.0.1"));
        assert!(!is_loopback_host("0.0.0.0"));
        assert!(!is_loopback_host("mylocalhost"));
        assert!(!is_loopback_host(""));
    }
}
