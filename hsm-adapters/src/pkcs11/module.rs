//! Finding, loading and initialising PKCS#11 modules, once per module per process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;

use super::error::Error;
use super::uri::Pkcs11Uri;

/// The environment variable naming the module to use when a key reference has neither
/// `module-path` nor `module-name`: an absolute path, or a module name looked up like
/// `module-name`. CI sets it once instead of repeating the module in every reference.
pub const MODULE_ENV: &str = "HALLMARK_PKCS11_MODULE";

/// A loaded and initialised PKCS#11 module.
///
/// `C_Initialize` may be called only once per process, so modules are shared: every key
/// reference naming the same file (after resolving symbolic links) uses one `Module`, and it is
/// never finalised.
pub struct Module {
    path: PathBuf,
    ctx: Pkcs11,
    info: LibraryInfo,
}

/// What a module says about itself (`C_GetInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LibraryInfo {
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `libraryDescription`.
    pub description: String,
    /// `libraryVersion`, `major.minor`.
    pub version: String,
    /// The Cryptoki version the module implements, `major.minor`.
    pub cryptoki_version: String,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// The module file (canonical path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the module says about itself.
    pub fn info(&self) -> &LibraryInfo {
        &self.info
    }

    /// The `cryptoki` context, for operations this crate does not wrap.
    pub fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// Loads and initialises the module at `path`, or returns the one already loaded.
    pub fn load(path: &Path) -> Result<Arc<Module>, Error> {
        let canonical = std::fs::canonicalize(path).map_err(|_| Error::ModuleNotFound {
            wanted: path.display().to_string(),
            searched: vec![path.to_owned()],
        })?;
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
        let mut loaded = LOADED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(module) = loaded.get(&canonical) {
            return Ok(Arc::clone(module));
        }
        let ctx = Pkcs11::new(&canonical).map_err(|err| Error::ModuleNotLoadable {
            path: canonical.clone(),
            reason: match err {
                cryptoki::error::Error::LibraryLoading(e) => e.to_string(),
                other => other.to_string(),
            },
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another component of this process initialised the module first: share it.
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(cryptoki::error::Error::Pkcs11(rv, _)) => {
                return Err(Error::ModuleInitFailed {
                    path: canonical,
                    rv,
                });
            }
            Err(other) => return Err(Error::device("C_Initialize", None, other)),
        }
        let info = ctx
            .get_library_info()
            .map_err(|e| Error::device("C_GetInfo", None, e))?;
        let info = LibraryInfo {
            manufacturer: info.manufacturer_id().to_owned(),
            description: info.library_description().to_owned(),
            version: info.library_version().to_string(),
            cryptoki_version: info.cryptoki_version().to_string(),
        };
        let module = Arc::new(Module {
            path: canonical.clone(),
            ctx,
            info,
        });
        loaded.insert(canonical, Arc::clone(&module));
        Ok(module)
    }

    /// Resolves the module a URI names (see [`resolve_module_path`]) and loads it.
    pub fn for_uri(uri: &Pkcs11Uri) -> Result<Arc<Module>, Error> {
        let path = resolve_module_path(uri)?;
        Module::load(&path)
    }

    /// Whether the module matches the URI's `library-*` attributes.
    pub(crate) fn matches(&self, uri: &Pkcs11Uri) -> bool {
        use super::uri::PathAttr;
        let eq = |attr, value: &str| uri.path_attr(attr).is_none_or(|want| want == value);
        let version_ok = uri.path_attr(PathAttr::LibraryVersion).is_none_or(|want| {
            let want = if want.contains('.') {
                want.to_owned()
            } else {
                format!("{want}.0")
            };
            normalise_version(&want) == normalise_version(&self.info.version)
        });
        eq(PathAttr::LibraryManufacturer, &self.info.manufacturer)
            && eq(PathAttr::LibraryDescription, &self.info.description)
            && version_ok
    }
}

fn normalise_version(v: &str) -> (u64, u64) {
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    (
        major.parse().unwrap_or(u64::MAX),
        minor.parse().unwrap_or(u64::MAX),
    )
}

/// Where modules are looked for by name.
#[derive(Clone, Debug)]
pub struct ModuleSearch {
    /// p11-kit module configuration directories (`*.module` files with a `module:` line).
    pub config_dirs: Vec<PathBuf>,
    /// Directories holding module files; also where p11-kit resolves relative `module:` paths.
    pub module_dirs: Vec<PathBuf>,
}

impl Default for ModuleSearch {
    /// p11-kit's configuration directories and the usual Debian, Fedora and /usr/local module
    /// directories.
    fn default() -> Self {
        let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
        let mut config_dirs = vec![
            PathBuf::from("/etc/pkcs11/modules"),
            PathBuf::from("/usr/share/p11-kit/modules"),
        ];
        if let Some(home) = std::env::var_os("HOME") {
            config_dirs.insert(0, Path::new(&home).join(".config/pkcs11/modules"));
        }
        let module_dirs = [
            format!("{multiarch}/pkcs11"),
            "/usr/lib/pkcs11".to_owned(),
            "/usr/lib64/pkcs11".to_owned(),
            "/usr/local/lib/pkcs11".to_owned(),
            multiarch.clone(),
            "/usr/lib64".to_owned(),
            "/usr/lib".to_owned(),
            "/usr/local/lib".to_owned(),
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        ModuleSearch {
            config_dirs,
            module_dirs,
        }
    }
}

/// Reads a p11-kit module file: only a regular file (a FIFO would block the search), and no
/// more than 64 KiB (the files are a few lines).
fn read_config(path: &Path) -> Option<String> {
    use std::io::Read;
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

impl ModuleSearch {
    /// Finds a module by name (`softhsm2`, `libsofthsm2`, `libsofthsm2.so`): first a p11-kit
    /// `NAME.module` file, then `NAME`, `NAME.so` and `libNAME.so` in the module directories.
    pub fn find(&self, name: &str) -> Result<PathBuf, Error> {
        let mut searched = Vec::new();
        for dir in &self.config_dirs {
            let config = dir.join(format!("{name}.module"));
            searched.push(config.clone());
            if let Some(text) = read_config(&config)
                && let Some(module) = p11kit_module_line(&text)
            {
                let candidate = if Path::new(module).is_absolute() {
                    PathBuf::from(module)
                } else {
                    match self
                        .module_dirs
                        .iter()
                        .map(|d| d.join(module))
                        .find(|p| p.is_file())
                    {
                        Some(found) => found,
                        None => continue,
                    }
                };
                if candidate.is_file() {
                    return Ok(candidate);
                }
                searched.push(candidate);
            }
        }
        let names = [
            name.to_owned(),
            format!("{name}.so"),
            format!("lib{name}.so"),
        ];
        for dir in &self.module_dirs {
            for file in &names {
                let candidate = dir.join(file);
                if candidate.is_file() {
                    return Ok(candidate);
                }
                searched.push(candidate);
            }
        }
        Err(Error::ModuleNotFound {
            wanted: format!("'{name}'"),
            searched,
        })
    }
}

fn p11kit_module_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix("module:"))
        .map(str::trim)
        .filter(|m| !m.is_empty())
}

/// The module file a URI names: `module-path` (a file, or a directory searched for
/// `module-name`), else `module-name` looked up with [`ModuleSearch::default`], else the
/// environment variable [`MODULE_ENV`] (a path or a name).
pub fn resolve_module_path(uri: &Pkcs11Uri) -> Result<PathBuf, Error> {
    resolve_with(
        uri,
        std::env::var_os(MODULE_ENV).map(PathBuf::from),
        &ModuleSearch::default(),
    )
}

pub(crate) fn resolve_with(
    uri: &Pkcs11Uri,
    env: Option<PathBuf>,
    search: &ModuleSearch,
) -> Result<PathBuf, Error> {
    match (uri.module_path(), uri.module_name()) {
        (Some(path), name) if path.is_dir() => match name {
            Some(name) => ModuleSearch {
                config_dirs: vec![],
                module_dirs: vec![path.to_owned()],
            }
            .find(name),
            None => Err(Error::UnusableUri {
                uri: uri.to_string(),
                reason: format!(
                    "module-path={} is a directory; add module-name= to say which module in it",
                    path.display()
                ),
            }),
        },
        (Some(path), _) => {
            if path.is_file() {
                Ok(path.to_owned())
            } else {
                Err(Error::ModuleNotFound {
                    wanted: path.display().to_string(),
                    searched: vec![path.to_owned()],
                })
            }
        }
        (None, Some(name)) => search.find(name),
        (None, None) => match env {
            Some(value) if value.is_absolute() => {
                if value.is_file() {
                    Ok(value)
                } else {
                    Err(Error::ModuleNotFound {
                        wanted: format!("{} (from {MODULE_ENV})", value.display()),
                        searched: vec![value],
                    })
                }
            }
            Some(value) if !value.as_os_str().is_empty() => {
                let name = value.to_string_lossy().into_owned();
                search.find(&name).map_err(|err| match err {
                    Error::ModuleNotFound { wanted, searched } => Error::ModuleNotFound {
                        wanted: format!("{wanted} (from {MODULE_ENV})"),
                        searched,
                    },
                    other => other,
                })
            }
            _ => Err(Error::NoModule { env: MODULE_ENV }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Pkcs11Uri {
        s.parse().unwrap()
    }

    #[test]
    fn finds_modules_by_p11kit_config_and_by_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        let libs = dir.path().join("libs");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(libs.join("vendor")).unwrap();
        std::fs::write(libs.join("vendor/libvendor.so"), b"").unwrap();
        std::fs::write(libs.join("libplain.so"), b"").unwrap();
        std::fs::write(
            conf.join("vendor.module"),
            "# comment\nmodule: vendor/libvendor.so\n",
        )
        .unwrap();
        let search = ModuleSearch {
            config_dirs: vec![conf.clone()],
            module_dirs: vec![libs.clone()],
        };

        assert_eq!(
            search.find("vendor").unwrap(),
            libs.join("vendor/libvendor.so")
        );
        assert_eq!(search.find("plain").unwrap(), libs.join("libplain.so"));
        assert_eq!(
            search.find("libplain.so").unwrap(),
            libs.join("libplain.so")
        );
        match search.find("absent") {
            Err(Error::ModuleNotFound { wanted, searched }) => {
                assert_eq!(wanted, "'absent'");
                assert_eq!(
                    searched,
                    vec![
                        conf.join("absent.module"),
                        libs.join("absent"),
                        libs.join("absent.so"),
                        libs.join("libabsent.so")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uri_beats_environment_and_environment_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"").unwrap();
        let search = ModuleSearch {
            config_dirs: vec![],
            module_dirs: vec![dir.path().into()],
        };
        let env = Some(PathBuf::from("/nonexistent/libenv.so"));

        let by_path = uri(&format!("pkcs11:?module-path={}", lib.display()));
        assert_eq!(resolve_with(&by_path, env.clone(), &search).unwrap(), lib);
        assert_eq!(
            resolve_with(&uri("pkcs11:?module-name=x"), env.clone(), &search).unwrap(),
            lib
        );
        let in_dir = uri(&format!(
            "pkcs11:?module-path={}&module-name=x",
            dir.path().display()
        ));
        assert_eq!(resolve_with(&in_dir, None, &search).unwrap(), lib);

        assert!(matches!(
            resolve_with(&uri("pkcs11:"), env, &search),
            Err(Error::ModuleNotFound { wanted, .. }) if wanted == format!("/nonexistent/libenv.so (from {MODULE_ENV})")
        ));
        assert_eq!(
            resolve_with(&uri("pkcs11:"), Some("x".into()), &search).unwrap(),
            lib
        );
        let err = resolve_with(&uri("pkcs11:"), None, &search).unwrap_err();
        assert!(matches!(err, Error::NoModule { .. }));
        assert!(err.to_string().contains(MODULE_ENV), "{err}");
        let dir_only = uri(&format!("pkcs11:?module-path={}", dir.path().display()));
        assert!(matches!(
            resolve_with(&dir_only, None, &search),
            Err(Error::UnusableUri { .. })
        ));
    }

    #[test]
    fn unloadable_module_reports_the_loader_message() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libnot-a-module.so");
        std::fs::write(&lib, b"this is not an ELF file").unwrap();
        match Module::load(&lib) {
            Err(Error::ModuleNotLoadable { path, reason }) => {
                assert_eq!(path, std::fs::canonicalize(&lib).unwrap());
                assert!(reason.contains("libnot-a-module.so"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match Module::load(&dir.path().join("missing.so")) {
            Err(Error::ModuleNotFound { wanted, .. }) => assert!(wanted.ends_with("missing.so")),
            other => panic!("{other:?}"),
        }
    }
}
