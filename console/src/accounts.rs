//! Local accounts: user names, argon2id password hashes and roles, kept in
//! `users.json` in the data directory (written to a temporary file, then renamed, so a
//! crash never leaves half a file; readable by the owner only).
//!
//! Passwords never travel on a command line nor reach a log: `amphi user add` reads
//! them from the terminal or stdin, the console from a login form's POST body.

use crate::data_file::{FileError, JsonFile};
use crate::roles::{Principal, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const USERS_FILE: &str = "users.json";
/// Shortest password `amphi user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password hashed (a login form cannot make the server hash megabytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("user name {0:?}: 1 to 64 characters of a-z, A-Z, 0-9, '.', '-', '_' and '@'")]
    InvalidName(String),
    #[error(
        "password: at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
    )]
    WeakPassword,
    #[error("user {0} already exists")]
    Exists(String),
    #[error("no user {0}")]
    NoSuchUser(String),
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    /// PHC string (`$argon2id$v=19$m=…`): algorithm, parameters, salt and hash.
    pub password_hash: String,
    pub roles: Vec<Role>,
}

impl Account {
    pub fn principal(&self) -> Principal {
        Principal {
            user: self.name.clone(),
            roles: self.roles.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<Account>,
}

pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
}

/// An argon2id hash of `password` with a fresh random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::WeakPassword);
    }
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC `hash` (constant time in the hash comparison).
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Reads and writes `users.json`.
pub struct AccountsFile {
    file: JsonFile,
}

impl AccountsFile {
    pub fn new(data_dir: &Path) -> AccountsFile {
        AccountsFile {
            file: JsonFile::new(data_dir, USERS_FILE, "a valid users file").private(),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn load(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self
            .file
            .load::<UsersFile>()?
            .map(|f| f.users)
            .unwrap_or_default())
    }

    fn save(&self, users: &[Account]) -> Result<(), AccountError> {
        Ok(self.file.save(&UsersFile {
            users: users.to_vec(),
        })?)
    }

    /// Adds a user, or with `replace` sets an existing user's password and roles.
    pub fn add(
        &self,
        name: &str,
        password: &str,
        roles: Vec<Role>,
        replace: bool,
    ) -> Result<Account, AccountError> {
        if !valid_user_name(name) {
            return Err(AccountError::InvalidName(name.to_owned()));
        }
        let account = Account {
            name: name.to_owned(),
            password_hash: hash_password(password)?,
            roles,
        };
        let mut users = self.load()?;
        match users.iter_mut().find(|u| u.name == name) {
            Some(_) if !replace => return Err(AccountError::Exists(name.to_owned())),
            Some(u) => *u = account.clone(),
            None => users.push(account.clone()),
        }
        self.save(&users)?;
        Ok(account)
    }

    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        let mut users = self.load()?;
        let before = users.len();
        users.retain(|u| u.name != name);
        if users.len() == before {
            return Err(AccountError::NoSuchUser(name.to_owned()));
        }
        self.save(&users)
    }
}

/// Checks a login against a list of accounts. An unknown user costs the same hashing
/// work as a wrong password, so timing does not tell which names exist.
pub fn authenticate(accounts: &[Account], name: &str, password: &str) -> Option<Principal> {
    match accounts.iter().find(|a| a.name == name) {
        Some(a) => verify_password(&a.password_hash, password).then(|| a.principal()),
        None => {
            verify_password(dummy_hash(), password);
            None
        }
    }
}

/// A valid hash of no one's password, verified for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a password of anyone").unwrap_or_else(|_| String::from("$argon2id$"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_and_differ() {
        let a = hash_password("correct horse battery").expect("hash");
        let b = hash_password("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify_password(&a, "correct horse battery"));
        assert!(!verify_password(&a, "correct horse battery "));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword)
        ));
    }

    #[test]
    fn file_add_replace_authenticate_remove() {
        let dir = std::env::temp_dir().join(format!("amphi-accounts-{}", std::process::id()));
        let file = AccountsFile::new(&dir);
        assert!(file.load().expect("empty").is_empty());
        file.add("ada", "analytical engine", vec![Role::Admin], false)
            .expect("add");
        assert!(matches!(
            file.add("ada", "analytical engine", vec![], false),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            file.add("bad name", "analytical engine", vec![], false),
            Err(AccountError::InvalidName(_))
        ));
        let users = file.load().expect("load");
        let p = authenticate(&users, "ada", "analytical engine").expect("login");
        assert!(p.is_admin());
        assert_eq!(authenticate(&users, "ada", "difference engine"), None);
        assert_eq!(authenticate(&users, "bob", "analytical engine"), None);
        let lecturer: Role = "lecturer:cs101".parse().expect("role");
        file.add("ada", "difference engine", vec![lecturer.clone()], true)
            .expect("replace");
        let users = file.load().expect("load");
        assert_eq!(authenticate(&users, "ada", "analytical engine"), None);
        let p = authenticate(&users, "ada", "difference engine").expect("login");
        assert_eq!(p.roles, vec![lecturer]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        file.remove("ada").expect("remove");
        assert!(file.remove("ada").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
