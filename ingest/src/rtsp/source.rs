//! A camera's `rtsp://` URL as an operator writes it (credentials included), split
//! into the URL sent on the wire (no credentials: they go in the `Authorization`
//! header) and the credentials, with a display form that hides the password.

use std::fmt;
use url::Url;

/// Longest source URL accepted (a camera URL with credentials is ~100 characters).
pub const MAX_URL_LEN: usize = 2048;

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceUrlError {
    #[error("the RTSP URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("not a URL: {0}")]
    Syntax(String),
    #[error("the URL scheme is {0:?}; only rtsp:// is supported")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL's credentials are not valid UTF-8 once percent-decoded")]
    Credentials,
}

/// User name and password for the camera (basic or digest authentication).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

/// A parsed `rtsp://[user[:password]@]host[:port]/path` source.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceUrl {
    /// The URL without credentials, as requested from the camera.
    pub url: Url,
    pub credentials: Option<Credentials>,
}

impl SourceUrl {
    pub fn parse(s: &str) -> Result<SourceUrl, SourceUrlError> {
        if s.len() > MAX_URL_LEN {
            return Err(SourceUrlError::TooLong);
        }
        let mut url = Url::parse(s.trim()).map_err(|e| SourceUrlError::Syntax(e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(SourceUrlError::Scheme(url.scheme().to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SourceUrlError::NoHost);
        }
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let username = percent_decode(url.username()).ok_or(SourceUrlError::Credentials)?;
            let password =
                percent_decode(url.password().unwrap_or("")).ok_or(SourceUrlError::Credentials)?;
            Some(Credentials { username, password })
        };
        // Cannot fail for a URL with a host (only `cannot-be-a-base` URLs refuse).
        url.set_username("").map_err(|()| SourceUrlError::NoHost)?;
        url.set_password(None)
            .map_err(|()| SourceUrlError::NoHost)?;
        Ok(SourceUrl { url, credentials })
    }

    /// The URL as an operator wrote it, password replaced by `***` (for logs and banners).
    pub fn redacted(&self) -> String {
        match &self.credentials {
            None => self.url.to_string(),
            Some(c) => {
                let rest = self
                    .url
                    .as_str()
                    .strip_prefix("rtsp://")
                    .unwrap_or(self.url.as_str());
                let user = percent_encode_userinfo(&c.username);
                if c.password.is_empty() {
                    format!("rtsp://{user}@{rest}")
                } else {
                    format!("rtsp://{user}:***@{rest}")
                }
            }
        }
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUrl({})", self.redacted())
    }
}

/// Hides the password of anything that looks like `scheme://user:password@host…`
/// (a URL an operator typed that failed to parse, for instance).
pub fn redact_password(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return s.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = s[authority_start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| authority_start + i);
    let authority = &s[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let hidden = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_owned()
    };
    format!(
        "{}{hidden}{}",
        &s[..authority_start],
        &s[authority_start + at..]
    )
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn percent_encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_credentials_from_the_url() {
        let s = SourceUrl::parse("rtsp://admin:s%40cret@10.0.0.7:8554/Streaming/101?x=1")
            .expect("valid");
        assert_eq!(s.url.as_str(), "rtsp://10.0.0.7:8554/Streaming/101?x=1");
        let c = s.credentials.clone().expect("credentials");
        assert_eq!(c.username, "admin");
        assert_eq!(c.password, "s@cret");
        assert_eq!(
            s.redacted(),
            "rtsp://admin:***@10.0.0.7:8554/Streaming/101?x=1"
        );
        let shown = format!("{s} {s:?} {c:?}");
        assert!(!shown.contains("cret"), "{shown}");
    }

    #[test]
    fn no_credentials_and_user_only() {
        let s = SourceUrl::parse("rtsp://cam.local/live").expect("valid");
        assert_eq!(s.credentials, None);
        assert_eq!(s.redacted(), "rtsp://cam.local/live");
        let s = SourceUrl::parse("rtsp://viewer@cam.local/live").expect("valid");
        assert_eq!(
            s.credentials.as_ref().map(|c| c.password.as_str()),
            Some("")
        );
        assert_eq!(s.redacted(), "rtsp://viewer@cam.local/live");
    }

    #[test]
    fn refuses_what_is_not_an_rtsp_url() {
        assert!(matches!(
            SourceUrl::parse("http://cam/live"),
            Err(SourceUrlError::Scheme(_))
        ));
        assert!(matches!(
            SourceUrl::parse("cam/live"),
            Err(SourceUrlError::Syntax(_))
        ));
        assert!(SourceUrl::parse("rtsp://").is_err());
        assert_eq!(
            SourceUrl::parse(&format!("rtsp://h/{}", "a".repeat(MAX_URL_LEN))),
            Err(SourceUrlError::TooLong)
        );
        assert!(matches!(
            SourceUrl::parse("rtsp://u:%ff%fe@h/x"),
            Err(SourceUrlError::Credentials)
        ));
    }

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%4").as_deref(), Some("%4"));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_encode_userinfo("a b@c"), "a%20b%40c");
    }

    #[test]
    fn redacts_passwords_in_free_text() {
        assert_eq!(
            redact_password("rtsp://u:p@ss@h:1/x?y"),
            "rtsp://u:***@h:1/x?y"
        );
        assert_eq!(redact_password("rtsp://u@h/x"), "rtsp://u@h/x");
        assert_eq!(redact_password("rtsp://h/a@b"), "rtsp://h/a@b");
        assert_eq!(redact_password("not a url"), "not a url");
        assert_eq!(redact_password("rtsp://"), "rtsp://");
    }
}
