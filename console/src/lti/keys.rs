//! The tool's own RSA key pair (signs deep-linking responses), generated at first use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2_010::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// PKCS#8 PEM file of the tool key in the data dir (mode 0600).
pub const TOOL_KEY_FILE: &str = "lti_tool_key.pem";
const KEY_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("tool key {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The tool's signing key and its key id.
#[derive(Debug, Clone)]
pub struct ToolKey {
    pub key: RsaPrivateKey,
    pub kid: String,
}

impl ToolKey {
    pub fn new(key: RsaPrivateKey) -> Self {
        let digest = Sha256::digest(key.n().to_bytes_be());
        let kid = B64.encode(&digest[..12]);
        ToolKey { key, kid }
    }

    /// Loads the key from `data_dir`, generating and saving one when there is none.
    pub fn load_or_generate(data_dir: &Path) -> Result<ToolKey, KeyError> {
        let path = data_dir.join(TOOL_KEY_FILE);
        let err = |message: String| KeyError::File {
            path: path.clone(),
            message,
        };
        match std::fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem)
                .map(ToolKey::new)
                .map_err(|e| err(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
                    .map_err(|e| err(e.to_string()))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| err(e.to_string()))?;
                std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
                write_private(&path, pem.as_bytes()).map_err(|e| err(e.to_string()))?;
                Ok(ToolKey::new(key))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The public key set served at `/lti/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        super::jwks::document(&self.key.to_public_key(), &self.kid)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
