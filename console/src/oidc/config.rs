//! The console's OpenID Connect settings, kept in the data dir (`oidc.json`).
//!
//! The file names the client secret's file rather than holding the secret: the secret
//! stays where the operator put it (mode 0600, a mounted Kubernetes secret, …) and is
//! read only when a code is exchanged.

use crate::data_file::{FileError, JsonFile};
use crate::lti::platform::check_url;
use crate::roles::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings file in the data dir.
pub const OIDC_FILE: &str = "oidc.json";
/// Scopes asked for when none are configured (`groups` is what most proxies use to
/// release group membership; providers ignore scopes they do not know).
pub const DEFAULT_SCOPES: &str = "openid profile email groups";
/// Claim holding the values roles are mapped from.
pub const DEFAULT_ROLE_CLAIM: &str = "groups";
/// Claims tried, in order, for the user name shown in the console and logs.
pub const DEFAULT_USER_CLAIMS: [&str; 3] = ["preferred_username", "email", "sub"];
/// A role-claim value `amphi:ROLE` (`amphi:admin`, `amphi:moderator`,
/// `amphi:lecturer:cs101,cs102`) gives that role unless another prefix is configured.
pub const DEFAULT_ROLE_PREFIX: &str = "amphi:";
/// Largest client secret file read, in bytes.
pub const MAX_SECRET_BYTES: u64 = 4096;

/// What the operator registers (`amphi oidc set …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// File holding the client secret (absolute path).
    pub client_secret_file: PathBuf,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// Claim (string or array of strings) roles are mapped from.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim giving the user name (default: preferred_username, then email, then sub).
    #[serde(default)]
    pub user_claim: Option<String>,
    /// Values of the role claim that make a user an admin.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Values of the role claim that make a user a moderator.
    #[serde(default)]
    pub moderator_groups: Vec<String>,
    /// Values of the role claim that make a user lecturer of the listed events.
    #[serde(default)]
    pub lecturer_groups: BTreeMap<String, Vec<String>>,
    /// Prefix of values naming a role directly (`amphi:admin`); empty turns that off.
    #[serde(default = "default_role_prefix")]
    pub role_prefix: String,
    /// Text of the login page's button.
    #[serde(default)]
    pub button_label: Option<String>,
}

fn default_scopes() -> String {
    DEFAULT_SCOPES.to_owned()
}
fn default_role_claim() -> String {
    DEFAULT_ROLE_CLAIM.to_owned()
}
fn default_role_prefix() -> String {
    DEFAULT_ROLE_PREFIX.to_owned()
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("issuer {0:?}: must be an https:// URL (http:// only for localhost)")]
    Issuer(String),
    #[error("scopes {0:?} must include openid")]
    Scopes(String),
    #[error("client id must not be empty")]
    ClientId,
    #[error("lecturer group {group:?}: {message}")]
    Lecturer { group: String, message: String },
    #[error("client secret file {path}: {message}")]
    Secret { path: PathBuf, message: String },
}

impl OidcConfig {
    /// A configuration with the defaults for everything but the three required values.
    pub fn new(issuer: &str, client_id: &str, client_secret_file: PathBuf) -> OidcConfig {
        OidcConfig {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret_file,
            scopes: default_scopes(),
            role_claim: default_role_claim(),
            user_claim: None,
            admin_groups: Vec::new(),
            moderator_groups: Vec::new(),
            lecturer_groups: BTreeMap::new(),
            role_prefix: default_role_prefix(),
            button_label: None,
        }
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        check_url(&self.issuer).map_err(|_| ConfigError::Issuer(self.issuer.clone()))?;
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::ClientId);
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(ConfigError::Scopes(self.scopes.clone()));
        }
        for (group, events) in &self.lecturer_groups {
            let spec = format!("lecturer:{}", events.join(","));
            spec.parse::<Role>().map_err(|e| ConfigError::Lecturer {
                group: group.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Where discovery is.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// Reads the client secret (trimmed; capped at [`MAX_SECRET_BYTES`]).
    pub fn read_secret(&self) -> Result<String, ConfigError> {
        let path = &self.client_secret_file;
        let err = |message: String| ConfigError::Secret {
            path: path.clone(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .len();
        if len > MAX_SECRET_BYTES {
            return Err(err(format!("larger than {MAX_SECRET_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(err("empty".into()));
        }
        Ok(secret.to_owned())
    }
}

/// The settings file of a data dir.
#[derive(Debug, Clone)]
pub struct OidcConfigFile {
    file: JsonFile,
}

impl OidcConfigFile {
    pub fn new(data_dir: &Path) -> Self {
        OidcConfigFile {
            file: JsonFile::new(data_dir, OIDC_FILE, "OIDC settings"),
        }
    }

    /// The settings, or `None` when OIDC login is not configured.
    pub fn load(&self) -> Result<Option<OidcConfig>, ConfigError> {
        Ok(self.file.load()?)
    }

    /// Checks and saves `config` (written to a temporary file, then renamed).
    pub fn save(&self, config: &OidcConfig) -> Result<(), ConfigError> {
        config.check()?;
        Ok(self.file.save(config)?)
    }

    /// Turns OIDC login off; true if it was on.
    pub fn clear(&self) -> Result<bool, ConfigError> {
        Ok(self.file.remove()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("amphi-oidc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_loads_and_refuses_bad_settings() {
        let d = dir("cfg");
        let file = OidcConfigFile::new(&d);
        assert!(file.load().expect("load").is_none());
        let mut c = OidcConfig::new("https://idp.example.edu/", "amphi", d.join("secret"));
        c.lecturer_groups
            .insert("physics-staff".into(), vec!["phys-1".into()]);
        file.save(&c).expect("save");
        let back = file.load().expect("load").expect("configured");
        assert_eq!(back, c);
        assert_eq!(back.issuer, "https://idp.example.edu");
        assert_eq!(
            back.discovery_url(),
            "https://idp.example.edu/.well-known/openid-configuration"
        );
        let mut bad = c.clone();
        bad.issuer = "http://idp.example.edu".into();
        assert!(matches!(file.save(&bad), Err(ConfigError::Issuer(_))));
        let mut bad = c.clone();
        bad.scopes = "profile".into();
        assert!(matches!(file.save(&bad), Err(ConfigError::Scopes(_))));
        let mut bad = c.clone();
        bad.lecturer_groups
            .insert("g".into(), vec!["Bad Id".into()]);
        assert!(matches!(file.save(&bad), Err(ConfigError::Lecturer { .. })));
        assert!(file.clear().expect("clear"));
        assert!(!file.clear().expect("clear twice"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn secret_is_read_trimmed_and_capped() {
        let d = dir("secret");
        std::fs::create_dir_all(&d).expect("dir");
        let c = OidcConfig::new("https://idp.example.edu", "amphi", d.join("secret"));
        assert!(c.read_secret().is_err(), "missing file");
        std::fs::write(d.join("secret"), "s3cret\n").expect("write");
        assert_eq!(c.read_secret().expect("secret"), "s3cret");
        std::fs::write(d.join("secret"), vec![b'x'; MAX_SECRET_BYTES as usize + 1]).expect("w");
        assert!(c.read_secret().is_err(), "too large");
        let _ = std::fs::remove_dir_all(&d);
    }
}
