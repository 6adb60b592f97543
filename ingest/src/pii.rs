//! Secrets (stream keys, tokens) never reach logs in clear: they are wrapped and shown
//! as a short prefix plus a length.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(secret: &str) -> Self {
        Redacted(secret.to_owned())
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(2).collect();
        write!(f, "{prefix}…({} chars)", self.0.chars().count())
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hides_the_secret() {
        let r = super::Redacted::new("supersecretkey");
        let shown = format!("{r} {r:?}");
        assert!(!shown.contains("secret"));
        assert!(shown.contains("14 chars"));
    }
}
