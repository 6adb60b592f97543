//! Registered LTI 1.3 platforms (Moodle, Open edX, …), kept in the data dir.

use crate::data_file::{FileError, JsonFile};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File of registered platforms in the data dir.
pub const PLATFORMS_FILE: &str = "lti_platforms.json";

/// One platform registration: what the platform's administrator gives the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// The `iss` of its ID tokens (e.g. `https://moodle.example.edu`).
    pub issuer: String,
    /// The client id the platform gave this tool (the tokens' audience).
    pub client_id: String,
    /// Its OIDC authorization endpoint (where login initiation redirects).
    pub auth_url: String,
    /// Its public key set.
    pub jwks_url: String,
    /// Deployment ids accepted from this platform.
    pub deployment_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}: must be an https:// URL (http:// only for localhost)")]
    Url(String),
    #[error("no platform registered for issuer {issuer:?} and client id {client_id:?}")]
    NotFound { issuer: String, client_id: String },
    #[error("a registration needs at least one deployment id")]
    NoDeployment,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    platforms: Vec<Platform>,
}

/// Checks a platform URL: https, or http on a loopback host (for tests and labs).
pub fn check_url(url: &str) -> Result<(), PlatformError> {
    let ok = url.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                url.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Url(url.to_owned()))
    }
}

impl Platform {
    pub fn check(&self) -> Result<(), PlatformError> {
        check_url(&self.issuer)?;
        check_url(&self.auth_url)?;
        check_url(&self.jwks_url)?;
        if self.deployment_ids.is_empty() {
            return Err(PlatformError::NoDeployment);
        }
        Ok(())
    }
}

/// The platforms file of a data dir.
#[derive(Debug, Clone)]
pub struct PlatformStore {
    file: JsonFile,
}

impl PlatformStore {
    pub fn new(data_dir: &Path) -> Self {
        PlatformStore {
            file: JsonFile::new(data_dir, PLATFORMS_FILE, "a platform list"),
        }
    }

    pub fn load(&self) -> Result<Vec<Platform>, PlatformError> {
        Ok(self
            .file
            .load::<File>()?
            .map(|f| f.platforms)
            .unwrap_or_default())
    }

    fn save(&self, platforms: Vec<Platform>) -> Result<(), PlatformError> {
        Ok(self.file.save(&File { platforms })?)
    }

    /// Adds `platform`, replacing a registration with the same issuer and client id.
    pub fn add(&self, platform: Platform) -> Result<(), PlatformError> {
        platform.check()?;
        let mut all = self.load()?;
        all.retain(|p| !(p.issuer == platform.issuer && p.client_id == platform.client_id));
        all.push(platform);
        self.save(all)
    }

    /// Removes the registration of `issuer` (all its client ids when `client_id` is None).
    pub fn remove(&self, issuer: &str, client_id: Option<&str>) -> Result<(), PlatformError> {
        let mut all = self.load()?;
        let before = all.len();
        all.retain(|p| !(p.issuer == issuer && client_id.is_none_or(|c| c == p.client_id)));
        if all.len() == before {
            return Err(PlatformError::NotFound {
                issuer: issuer.to_owned(),
                client_id: client_id.unwrap_or("*").to_owned(),
            });
        }
        self.save(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(issuer: &str) -> Platform {
        Platform {
            issuer: issuer.into(),
            client_id: "tool-1".into(),
            auth_url: format!("{issuer}/auth"),
            jwks_url: format!("{issuer}/jwks"),
            deployment_ids: vec!["d1".into()],
        }
    }

    #[test]
    fn add_list_remove() {
        let dir = std::env::temp_dir().join(format!("amphi-lti-{}", rand::random::<u64>()));
        let store = PlatformStore::new(&dir);
        assert!(store.load().expect("empty").is_empty());
        store.add(platform("https://moodle.example")).expect("add");
        store
            .add(platform("https://moodle.example"))
            .expect("replace");
        store.add(platform("http://127.0.0.1:9")).expect("loopback");
        assert_eq!(store.load().expect("load").len(), 2);
        store
            .remove("https://moodle.example", None)
            .expect("remove");
        assert_eq!(
            store.load().expect("load"),
            vec![platform("http://127.0.0.1:9")]
        );
        assert!(matches!(
            store.remove("https://moodle.example", None),
            Err(PlatformError::NotFound { .. })
        ));
        assert!(matches!(
            store.add(platform("http://moodle.example")),
            Err(PlatformError::Url(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
