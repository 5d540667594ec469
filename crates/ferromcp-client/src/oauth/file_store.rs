//! [`FileTokenStore`]: tokens kept in a JSON file between runs, readable by its owner
//! only.
//!
//! The file maps each MCP server URL to its tokens. Every save writes a new file next to
//! it (created with mode 0600 on Unix) and renames it over the old one, so a crash never
//! leaves half a file; a file that other users can read or write is refused on load, as
//! `ssh` refuses a private key with loose permissions. Operations run on tokio's
//! blocking pool, one at a time per store.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::OAuthError;
use super::store::{StoredTokens, TokenStore};

/// The on-disk form of [`StoredTokens`] (`expires_at` as Unix seconds).
#[derive(Serialize, Deserialize)]
struct FileTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
    issuer: String,
}

impl From<StoredTokens> for FileTokens {
    fn from(t: StoredTokens) -> Self {
        FileTokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t
                .expires_at
                .map(|e| e.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
            scopes: t.scopes,
            issuer: t.issuer,
        }
    }
}

impl From<FileTokens> for StoredTokens {
    fn from(t: FileTokens) -> Self {
        StoredTokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t.expires_at.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            scopes: t.scopes,
            issuer: t.issuer,
        }
    }
}

type Tokens = BTreeMap<String, FileTokens>;

/// Tokens in a JSON file (mode 0600 on Unix), kept across runs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ferromcp_client::oauth::OAuthError> {
/// use ferromcp_client::oauth::{FileTokenStore, StoredTokens, TokenStore};
/// let path = std::env::temp_dir().join(format!("ferromcp-doc-tokens-{}.json", std::process::id()));
/// let store = FileTokenStore::new(&path);
/// let t = StoredTokens { access_token: "abc".into(), refresh_token: None, expires_at: None, scopes: vec![], issuer: "https://as.example".into() };
/// store.save("https://mcp.example/mcp", t.clone()).await?;
/// // Another store on the same file (a later run) finds them.
/// assert_eq!(FileTokenStore::new(&path).load("https://mcp.example/mcp").await?, Some(t));
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: Arc<PathBuf>,
    /// Serialises read-modify-write cycles of this store.
    lock: Arc<Mutex<()>>,
}

impl FileTokenStore {
    /// A store in the file at `path` (created on the first save; its directory must
    /// exist or be creatable).
    pub fn new(path: impl AsRef<Path>) -> Self {
        FileTokenStore {
            path: Arc::new(path.as_ref().to_path_buf()),
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the blocking pool with the store locked.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<R, OAuthError> + Send + 'static,
    ) -> Result<R, OAuthError> {
        let (path, lock) = (self.path.clone(), self.lock.clone());
        tokio::task::spawn_blocking(move || {
            let _g = lock.lock().map_err(|_| {
                OAuthError::Store("a thread panicked while holding the token file lock".into())
            })?;
            f(&path)
        })
        .await
        .map_err(|e| OAuthError::Store(format!("the token file task failed: {e}")))?
    }
}

fn store_err(path: &Path, what: &str, e: impl std::fmt::Display) -> OAuthError {
    OAuthError::Store(format!("{what} the token file {}: {e}", path.display()))
}

/// Reads the file (an absent file is an empty store).
fn read(path: &Path) -> Result<Tokens, OAuthError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tokens::new()),
        Err(e) => return Err(store_err(path, "could not read", e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| store_err(path, "could not stat", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(OAuthError::Store(format!(
                "the token file {} is open to other users (mode {:o}); run `chmod 600` on it, or delete it to log in again",
                path.display(),
                mode & 0o777
            )));
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        OAuthError::Store(format!(
            "the token file {} is not valid ({e}); delete it to log in again",
            path.display()
        ))
    })
}

/// Writes the whole map to a fresh 0600 file and renames it over `path`.
fn write(path: &Path, tokens: &Tokens) -> Result<(), OAuthError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| store_err(path, "could not create the directory of", e))?;
    }
    let bytes =
        serde_json::to_vec_pretty(tokens).map_err(|e| store_err(path, "could not encode", e))?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = opts
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(store_err(path, "could not write", e));
    }
    Ok(())
}

impl TokenStore for FileTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredTokens>, OAuthError>> {
        let key = key.to_owned();
        Box::pin(self.run(move |path| Ok(read(path)?.remove(&key).map(StoredTokens::from))))
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        tokens: StoredTokens,
    ) -> BoxFuture<'a, Result<(), OAuthError>> {
        let key = key.to_owned();
        Box::pin(self.run(move |path| {
            let mut all = read(path)?;
            all.insert(key, tokens.into());
            write(path, &all)
        }))
    }

    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), OAuthError>> {
        let key = key.to_owned();
        Box::pin(self.run(move |path| {
            let mut all = read(path)?;
            if all.remove(&key).is_some() {
                write(path, &all)?;
            }
            Ok(())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(access: &str) -> StoredTokens {
        StoredTokens {
            access_token: access.into(),
            refresh_token: Some("r".into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000)),
            scopes: vec!["read".into(), "write".into()],
            issuer: "https://as.example".into(),
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("ferromcp-file-store-{}-{name}", std::process::id()))
            .join("tokens.json")
    }

    #[tokio::test]
    async fn round_trip_across_stores_keys_apart() {
        let path = temp_path("round");
        let s = FileTokenStore::new(&path);
        assert_eq!(s.load("a").await.unwrap(), None, "no file yet");
        s.save("a", tokens("ta")).await.unwrap();
        s.save("b", tokens("tb")).await.unwrap();
        let again = FileTokenStore::new(&path);
        assert_eq!(again.load("a").await.unwrap(), Some(tokens("ta")));
        assert_eq!(again.load("b").await.unwrap(), Some(tokens("tb")));
        again.clear("a").await.unwrap();
        assert_eq!(s.load("a").await.unwrap(), None);
        assert_eq!(s.load("b").await.unwrap(), Some(tokens("tb")));
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private_and_a_loose_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp_path("mode");
        let s = FileTokenStore::new(&path);
        s.save("a", tokens("ta")).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = s.load("a").await.unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::write(&path, b"not json").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = s.load("a").await.unwrap_err().to_string();
        assert!(err.contains("not valid"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}
