//! RFC 7512 PKCS#11 URIs: parsing, validation and printing.
//!
//! A [`Pkcs11Uri`] is validated when it is built: every attribute value is percent-decoded,
//! text attributes are UTF-8, `type`, `slot-id`, `library-version`, `module-path` and
//! `pin-source` have their documented shapes, and no standard attribute appears twice.
//! Printing ([`fmt::Display`]) gives the canonical form, which parses back to the same value,
//! except that `pin-value` is never printed (see [`Pkcs11Uri::pin_value`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::secret::{Secret, SecretSource};

/// A standard RFC 7512 path attribute (the part before `?`): what identifies a library, slot,
/// token or object. Variants are in the order in which [`Pkcs11Uri`] prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PathAttr {
    /// `token`: the token label (`CK_TOKEN_INFO.label`).
    Token,
    /// `manufacturer`: the token manufacturer (`CK_TOKEN_INFO.manufacturerID`).
    Manufacturer,
    /// `serial`: the token serial number (`CK_TOKEN_INFO.serialNumber`).
    Serial,
    /// `model`: the token model (`CK_TOKEN_INFO.model`).
    Model,
    /// `library-manufacturer`: the module's manufacturer (`CK_INFO.manufacturerID`).
    LibraryManufacturer,
    /// `library-description`: the module's description (`CK_INFO.libraryDescription`).
    LibraryDescription,
    /// `library-version`: the module's version, `M` or `M.N` (`CK_INFO.libraryVersion`).
    LibraryVersion,
    /// `slot-description`: the slot description (`CK_SLOT_INFO.slotDescription`).
    SlotDescription,
    /// `slot-manufacturer`: the slot manufacturer (`CK_SLOT_INFO.manufacturerID`).
    SlotManufacturer,
    /// `slot-id`: the slot's numeric id (`CK_SLOT_ID`), decimal.
    SlotId,
    /// `object`: the object label (`CKA_LABEL`).
    Object,
    /// `type`: the object class (`CKA_CLASS`), see [`ObjectType`].
    Type,
    /// `id`: the object id (`CKA_ID`), binary.
    Id,
}

impl PathAttr {
    /// Every standard path attribute, in printing order.
    pub const ALL: [PathAttr; 13] = [
        PathAttr::Token,
        PathAttr::Manufacturer,
        PathAttr::Serial,
        PathAttr::Model,
        PathAttr::LibraryManufacturer,
        PathAttr::LibraryDescription,
        PathAttr::LibraryVersion,
        PathAttr::SlotDescription,
        PathAttr::SlotManufacturer,
        PathAttr::SlotId,
        PathAttr::Object,
        PathAttr::Type,
        PathAttr::Id,
    ];

    /// The attribute's name in a URI.
    pub fn name(self) -> &'static str {
        match self {
            PathAttr::Token => "token",
            PathAttr::Manufacturer => "manufacturer",
            PathAttr::Serial => "serial",
            PathAttr::Model => "model",
            PathAttr::LibraryManufacturer => "library-manufacturer",
            PathAttr::LibraryDescription => "library-description",
            PathAttr::LibraryVersion => "library-version",
            PathAttr::SlotDescription => "slot-description",
            PathAttr::SlotManufacturer => "slot-manufacturer",
            PathAttr::SlotId => "slot-id",
            PathAttr::Object => "object",
            PathAttr::Type => "type",
            PathAttr::Id => "id",
        }
    }

    /// The attribute with this URI name, if it is a standard one.
    pub fn from_name(name: &str) -> Option<PathAttr> {
        PathAttr::ALL.into_iter().find(|attr| attr.name() == name)
    }
}

/// The object classes an RFC 7512 `type` attribute can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectType {
    /// `type=public`: a public key.
    Public,
    /// `type=private`: a private key.
    Private,
    /// `type=cert`: a certificate.
    Cert,
    /// `type=secret-key`: a secret (symmetric) key.
    SecretKey,
    /// `type=data`: a data object.
    Data,
}

impl ObjectType {
    /// The value as written in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Public => "public",
            ObjectType::Private => "private",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }

    fn parse(value: &str) -> Option<ObjectType> {
        Some(match value {
            "public" => ObjectType::Public,
            "private" => ObjectType::Private,
            "cert" => ObjectType::Cert,
            "secret-key" => ObjectType::SecretKey,
            "data" => ObjectType::Data,
            _ => return None,
        })
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PKCS#11 URI (RFC 7512): which module, token and object to use, and where the PIN comes
/// from.
///
/// ```
/// use hallmark_hsm::pkcs11::Pkcs11Uri;
///
/// let uri: Pkcs11Uri = "pkcs11:token=ci;object=release?pin-source=env:HSM_PIN".parse()?;
/// assert_eq!(uri.token(), Some("ci"));
/// assert_eq!(uri.object(), Some("release"));
/// assert_eq!(uri.to_string(), "pkcs11:token=ci;object=release?pin-source=env:HSM_PIN");
/// # Ok::<(), hallmark_hsm::pkcs11::UriError>(())
/// ```
///
/// An absent attribute matches anything; an empty one (`serial=`) matches only an empty value.
/// Vendor-specific attributes are kept and printed back. `pin-value` is accepted because RFC
/// 7512 defines it, but it puts the PIN where anyone reading the command line, the shell
/// history or a CI log can see it: it is never printed, and using it makes Hallmark warn.
#[derive(Clone, Default, PartialEq)]
pub struct Pkcs11Uri {
    path: Vec<(PathAttr, String)>,
    id: Option<Vec<u8>>,
    vendor_path: Vec<(String, String)>,
    module_name: Option<String>,
    module_path: Option<PathBuf>,
    pin_source: Option<String>,
    pin_value: Option<Secret>,
    vendor_query: Vec<(String, String)>,
}

/// Why a PKCS#11 URI did not parse. These are usage errors: the text is wrong, not the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text does not start with `pkcs11:`.
    #[error(
        "a PKCS#11 key reference starts with `pkcs11:` (RFC 7512), e.g. `pkcs11:token=ci;object=release`"
    )]
    Scheme,
    /// A path attribute is not `name=value`.
    #[error(
        "PKCS#11 URI: path attribute {text:?} is not of the form name=value (attributes are separated by `;`)"
    )]
    MalformedPathAttribute {
        /// The offending piece of the URI.
        text: String,
    },
    /// A query attribute is not `name=value`.
    #[error(
        "PKCS#11 URI: query attribute {text:?} is not of the form name=value (attributes are separated by `&`)"
    )]
    MalformedQueryAttribute {
        /// The offending piece of the URI.
        text: String,
    },
    /// An attribute name has characters RFC 7512 does not allow.
    #[error("PKCS#11 URI: attribute name {name:?} may contain only letters, digits, `-` and `_`")]
    BadAttributeName {
        /// The name.
        name: String,
    },
    /// An attribute value holds a character that must be percent-encoded.
    #[error(
        "PKCS#11 URI: attribute {name} contains {found:?}, which must be percent-encoded (write {encoded})"
    )]
    UnencodedCharacter {
        /// The attribute.
        name: String,
        /// The character.
        found: char,
        /// How to write it.
        encoded: String,
    },
    /// The PIN (`pin-value`) contains a character that must be percent-encoded; which one is
    /// not said, since it is part of a secret.
    #[error(
        "PKCS#11 URI: pin-value contains a character that must be percent-encoded (not shown: \
         it is part of the PIN); better, give the PIN with pin-source=file:PATH or env:NAME"
    )]
    UnencodedSecret,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("PKCS#11 URI: attribute {name} has a `%` not followed by two hexadecimal digits")]
    BadPercentEncoding {
        /// The attribute.
        name: String,
    },
    /// A text attribute does not decode to UTF-8.
    #[error("PKCS#11 URI: attribute {name} does not decode to UTF-8 text")]
    NotUtf8 {
        /// The attribute.
        name: String,
    },
    /// A standard attribute appears twice.
    #[error("PKCS#11 URI: attribute {name} appears more than once")]
    Duplicate {
        /// The attribute.
        name: String,
    },
    /// `type` is not one of the RFC 7512 values.
    #[error("PKCS#11 URI: type={value:?} is not one of public, private, cert, secret-key, data")]
    BadType {
        /// The value.
        value: String,
    },
    /// `slot-id` is not a decimal number.
    #[error("PKCS#11 URI: slot-id={value:?} is not a decimal slot number")]
    BadSlotId {
        /// The value.
        value: String,
    },
    /// `library-version` is not `M` or `M.N`.
    #[error("PKCS#11 URI: library-version={value:?} is not of the form M or M.N")]
    BadLibraryVersion {
        /// The value.
        value: String,
    },
    /// `module-path` is not an absolute path.
    #[error(
        "PKCS#11 URI: module-path={value:?} must be an absolute path to a module or a directory"
    )]
    RelativeModulePath {
        /// The value.
        value: String,
    },
    /// `module-name` is empty or names a path.
    #[error(
        "PKCS#11 URI: module-name={value:?} must be a module name such as `softhsm2`, not a path (use module-path for paths)"
    )]
    BadModuleName {
        /// The value.
        value: String,
    },
    /// `pin-source` is not a Hallmark secret source.
    #[error("PKCS#11 URI: pin-source={value:?} is not `prompt`, `file:PATH`, a path or `env:NAME`")]
    BadPinSource {
        /// The value.
        value: String,
    },
    /// Both `pin-source` and `pin-value` are given.
    #[error(
        "PKCS#11 URI: give either pin-source or pin-value, not both (RFC 7512 section 2.4); prefer pin-source"
    )]
    PinSourceAndValue,
    /// The URI contains whitespace that is not line folding.
    #[error("PKCS#11 URI: contains whitespace; write a space inside a value as %20")]
    Whitespace,
}

impl Pkcs11Uri {
    /// An empty URI (`pkcs11:`), which matches every token and object.
    pub fn new() -> Self {
        Pkcs11Uri::default()
    }

    /// The value of a standard text path attribute (for [`PathAttr::Id`], which is binary,
    /// use [`Pkcs11Uri::id`]).
    pub fn path_attr(&self, attr: PathAttr) -> Option<&str> {
        self.path
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, v)| v.as_str())
    }

    /// `token`: the token label.
    pub fn token(&self) -> Option<&str> {
        self.path_attr(PathAttr::Token)
    }

    /// `serial`: the token serial number.
    pub fn serial(&self) -> Option<&str> {
        self.path_attr(PathAttr::Serial)
    }

    /// `object`: the object label.
    pub fn object(&self) -> Option<&str> {
        self.path_attr(PathAttr::Object)
    }

    /// `type`: the object class.
    pub fn object_type(&self) -> Option<ObjectType> {
        self.path_attr(PathAttr::Type).and_then(ObjectType::parse)
    }

    /// `slot-id`: the slot number.
    pub fn slot_id(&self) -> Option<u64> {
        self.path_attr(PathAttr::SlotId)
            .and_then(|v| v.parse().ok())
    }

    /// `id`: the object id (`CKA_ID`) bytes.
    pub fn id(&self) -> Option<&[u8]> {
        self.id.as_deref()
    }

    /// Vendor-specific path attributes, in URI order, values percent-decoded.
    pub fn vendor_path_attributes(&self) -> &[(String, String)] {
        &self.vendor_path
    }

    /// `module-name`: a module to look up by name (e.g. `softhsm2`).
    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }

    /// `module-path`: an absolute path to a module, or to a directory holding modules.
    pub fn module_path(&self) -> Option<&Path> {
        self.module_path.as_deref()
    }

    /// `pin-source` as written in the URI.
    pub fn pin_source_text(&self) -> Option<&str> {
        self.pin_source.as_deref()
    }

    /// `pin-source`: where the PIN is read from.
    pub fn pin_source(&self) -> Option<SecretSource> {
        self.pin_source
            .as_deref()
            .and_then(|text| SecretSource::parse(text).ok())
    }

    /// `pin-value`: a PIN written into the URI itself. Never recommended; never printed.
    pub fn pin_value(&self) -> Option<&Secret> {
        self.pin_value.as_ref()
    }

    /// Vendor-specific query attributes, in URI order (a name may repeat).
    pub fn vendor_query_attributes(&self) -> &[(String, String)] {
        &self.vendor_query
    }

    /// Sets (or with `None` removes) a standard text path attribute. For `id` use
    /// [`Pkcs11Uri::set_id`].
    pub fn set_path_attr(&mut self, attr: PathAttr, value: Option<&str>) -> Result<(), UriError> {
        if attr == PathAttr::Id {
            self.id = value.map(|v| v.as_bytes().to_vec());
            return Ok(());
        }
        if let Some(value) = value {
            validate_path_value(attr, value)?;
        }
        self.path.retain(|(a, _)| *a != attr);
        if let Some(value) = value {
            self.path.push((attr, value.to_owned()));
            self.path.sort_by_key(|(a, _)| *a);
        }
        Ok(())
    }

    /// Sets the `id` path attribute.
    pub fn set_id(&mut self, id: Option<Vec<u8>>) {
        self.id = id;
    }

    /// Sets `module-path` (absolute).
    pub fn set_module_path(&mut self, path: Option<PathBuf>) -> Result<(), UriError> {
        if let Some(path) = &path
            && !path.is_absolute()
        {
            return Err(UriError::RelativeModulePath {
                value: path.display().to_string(),
            });
        }
        self.module_path = path;
        Ok(())
    }

    /// Sets `module-name`.
    pub fn set_module_name(&mut self, name: Option<&str>) -> Result<(), UriError> {
        if let Some(name) = name {
            validate_module_name(name)?;
        }
        self.module_name = name.map(str::to_owned);
        Ok(())
    }

    /// Sets `pin-source` (`prompt`, `file:PATH`, a path, or `env:NAME`).
    pub fn set_pin_source(&mut self, source: Option<&str>) -> Result<(), UriError> {
        if let Some(source) = source {
            if SecretSource::parse(source).is_err() {
                return Err(UriError::BadPinSource {
                    value: source.to_owned(),
                });
            }
            if self.pin_value.is_some() {
                return Err(UriError::PinSourceAndValue);
            }
        }
        self.pin_source = source.map(str::to_owned);
        Ok(())
    }

    /// Removes `pin-value`.
    pub fn clear_pin_value(&mut self) {
        self.pin_value = None;
    }

    /// The URI with only what names the module, token and object (and the PIN source): the
    /// form Hallmark prints for a key, without vendor attributes or `pin-value`.
    pub fn without_pin_value(&self) -> Pkcs11Uri {
        let mut uri = self.clone();
        uri.pin_value = None;
        uri
    }

    fn parse_str(input: &str) -> Result<Pkcs11Uri, UriError> {
        let unfolded = unfold(input)?;
        let rest = match unfolded.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkcs11:") => &unfolded[7..],
            _ => return Err(UriError::Scheme),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::new();
        if !path.is_empty() {
            for piece in path.split(';') {
                let (name, raw) =
                    piece
                        .split_once('=')
                        .ok_or_else(|| UriError::MalformedPathAttribute {
                            text: piece.to_owned(),
                        })?;
                check_name(name)?;
                let bytes = percent_decode(name, raw, Part::Path)?;
                uri.add_path(name, bytes)?;
            }
        }
        if let Some(query) = query
            && !query.is_empty()
        {
            for piece in query.split('&') {
                let (name, raw) =
                    piece
                        .split_once('=')
                        .ok_or_else(|| UriError::MalformedQueryAttribute {
                            text: piece.to_owned(),
                        })?;
                check_name(name)?;
                let bytes = percent_decode(name, raw, Part::Query)?;
                uri.add_query(name, bytes)?;
            }
        }
        Ok(uri)
    }

    fn add_path(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), UriError> {
        match PathAttr::from_name(name) {
            Some(PathAttr::Id) => {
                if self.id.is_some() {
                    return Err(UriError::Duplicate {
                        name: name.to_owned(),
                    });
                }
                self.id = Some(bytes);
            }
            Some(attr) => {
                if self.path_attr(attr).is_some() {
                    return Err(UriError::Duplicate {
                        name: name.to_owned(),
                    });
                }
                let value = utf8(name, bytes)?;
                validate_path_value(attr, &value)?;
                self.path.push((attr, value));
                self.path.sort_by_key(|(a, _)| *a);
            }
            None => {
                if self.vendor_path.iter().any(|(n, _)| n == name) {
                    return Err(UriError::Duplicate {
                        name: name.to_owned(),
                    });
                }
                let value = utf8(name, bytes)?;
                self.vendor_path.push((name.to_owned(), value));
            }
        }
        Ok(())
    }

    fn add_query(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), UriError> {
        let duplicate = || UriError::Duplicate {
            name: name.to_owned(),
        };
        match name {
            "module-name" => {
                if self.module_name.is_some() {
                    return Err(duplicate());
                }
                let value = utf8(name, bytes)?;
                self.set_module_name(Some(&value))?;
            }
            "module-path" => {
                if self.module_path.is_some() {
                    return Err(duplicate());
                }
                let value = utf8(name, bytes)?;
                if value.is_empty() || !Path::new(&value).is_absolute() {
                    return Err(UriError::RelativeModulePath { value });
                }
                self.module_path = Some(PathBuf::from(value));
            }
            "pin-source" => {
                if self.pin_source.is_some() {
                    return Err(duplicate());
                }
                let value = utf8(name, bytes)?;
                self.set_pin_source(Some(&value))?;
            }
            "pin-value" => {
                if self.pin_value.is_some() {
                    return Err(duplicate());
                }
                if self.pin_source.is_some() {
                    return Err(UriError::PinSourceAndValue);
                }
                let value = match String::from_utf8(bytes) {
                    Ok(value) => value,
                    Err(err) => {
                        zeroize::Zeroize::zeroize(&mut err.into_bytes());
                        return Err(UriError::NotUtf8 {
                            name: name.to_owned(),
                        });
                    }
                };
                self.pin_value = Some(Secret::new(value));
            }
            _ => {
                let value = utf8(name, bytes)?;
                self.vendor_query.push((name.to_owned(), value));
            }
        }
        Ok(())
    }
}

// `Secret`'s equality is byte equality, which is an equivalence relation.
impl Eq for Pkcs11Uri {}

impl FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pkcs11Uri::parse_str(s)
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The canonical form: standard path attributes in [`PathAttr::ALL`] order, then vendor
    /// path attributes; `module-name`, `module-path`, `pin-source`, then vendor query
    /// attributes. `pin-value` is left out, so a printed URI never carries a PIN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>, c: char| -> fmt::Result {
            if first {
                first = false;
                Ok(())
            } else {
                write!(f, "{c}")
            }
        };
        for attr in PathAttr::ALL {
            if attr == PathAttr::Id {
                if let Some(id) = &self.id {
                    sep(f, ';')?;
                    f.write_str("id=")?;
                    for byte in id {
                        write!(f, "%{byte:02X}")?;
                    }
                }
            } else if let Some(value) = self.path_attr(attr) {
                sep(f, ';')?;
                write!(
                    f,
                    "{}={}",
                    attr.name(),
                    Encoded(value.as_bytes(), Part::Path)
                )?;
            }
        }
        for (name, value) in &self.vendor_path {
            sep(f, ';')?;
            write!(f, "{name}={}", Encoded(value.as_bytes(), Part::Path))?;
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(name) = &self.module_name {
            query.push(("module-name", name));
        }
        let module_path = self.module_path.as_ref().map(|p| p.to_string_lossy());
        if let Some(path) = &module_path {
            query.push(("module-path", path));
        }
        if let Some(source) = &self.pin_source {
            query.push(("pin-source", source));
        }
        for (name, value) in &self.vendor_query {
            query.push((name, value));
        }
        for (i, (name, value)) in query.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            write!(f, "{name}={}", Encoded(value.as_bytes(), Part::Query))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The canonical text (which never contains pin-value) says everything else.
        f.debug_struct("Pkcs11Uri")
            .field("uri", &self.to_string())
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Query,
}

/// Characters a value may hold unencoded (RFC 7512 `pk11-pchar` / `pk11-qchar`, less `%`).
fn allowed(c: u8, part: Part) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
        )
        || match part {
            Part::Path => c == b'&',
            Part::Query => matches!(c, b'/' | b'?' | b'|'),
        }
}

/// Removes RFC 3986 Appendix C line folding (a line break and the indentation after it) and
/// surrounding whitespace; any other whitespace is an error.
fn unfold(input: &str) -> Result<String, UriError> {
    let trimmed = input.trim();
    let mut out = String::with_capacity(trimmed.len());
    let mut chars = trimmed.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                while matches!(chars.peek(), Some(' ' | '\t')) {
                    chars.next();
                }
            }
            c if c.is_whitespace() => {
                // Indentation before a line break is folding too.
                let mut lookahead = chars.clone();
                let mut folded = false;
                while let Some(n) = lookahead.peek().copied() {
                    if n == '\n' || n == '\r' {
                        folded = true;
                        break;
                    }
                    if n == ' ' || n == '\t' {
                        lookahead.next();
                    } else {
                        break;
                    }
                }
                if !(folded && (c == ' ' || c == '\t')) {
                    return Err(UriError::Whitespace);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), UriError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(UriError::BadAttributeName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn percent_decode(name: &str, raw: &str, part: Part) -> Result<Vec<u8>, UriError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |k: usize| bytes.get(k).and_then(|&h| (h as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => {
                    return Err(UriError::BadPercentEncoding {
                        name: name.to_owned(),
                    });
                }
            }
            i += 3;
        } else if allowed(b, part) {
            out.push(b);
            i += 1;
        } else if name == "pin-value" {
            return Err(UriError::UnencodedSecret);
        } else {
            let found = raw[i..].chars().next().unwrap_or('?');
            let mut buf = [0u8; 4];
            let encoded = found
                .encode_utf8(&mut buf)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            return Err(UriError::UnencodedCharacter {
                name: name.to_owned(),
                found,
                encoded,
            });
        }
    }
    Ok(out)
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, UriError> {
    String::from_utf8(bytes).map_err(|_| UriError::NotUtf8 {
        name: name.to_owned(),
    })
}

fn validate_path_value(attr: PathAttr, value: &str) -> Result<(), UriError> {
    match attr {
        PathAttr::Type if ObjectType::parse(value).is_none() => Err(UriError::BadType {
            value: value.to_owned(),
        }),
        PathAttr::SlotId
            if value.is_empty()
                || !value.bytes().all(|b| b.is_ascii_digit())
                || value.parse::<u64>().is_err() =>
        {
            Err(UriError::BadSlotId {
                value: value.to_owned(),
            })
        }
        PathAttr::LibraryVersion => {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let ok = match value.split_once('.') {
                Some((major, minor)) => digits(major) && digits(minor),
                None => digits(value),
            };
            if ok {
                Ok(())
            } else {
                Err(UriError::BadLibraryVersion {
                    value: value.to_owned(),
                })
            }
        }
        _ => Ok(()),
    }
}

fn validate_module_name(name: &str) -> Result<(), UriError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') || name == "." || name == ".." {
        return Err(UriError::BadModuleName {
            value: name.to_owned(),
        });
    }
    Ok(())
}

/// Percent-encodes everything outside the characters allowed in `part`.
struct Encoded<'a>(&'a [u8], Part);

impl fmt::Display for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if allowed(b, self.1) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Pkcs11Uri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn empty_uri_has_no_attributes() {
        let uri = parse("pkcs11:");
        assert_eq!(uri, Pkcs11Uri::new());
        assert_eq!(uri.to_string(), "pkcs11:");
        assert_eq!(parse("pkcs11:?"), Pkcs11Uri::new());
    }

    #[test]
    fn empty_and_absent_differ() {
        let uri = parse("pkcs11:serial=;id=");
        assert_eq!(uri.serial(), Some(""));
        assert_eq!(uri.id(), Some(&[][..]));
        assert_eq!(uri.token(), None);
        assert_eq!(uri.to_string(), "pkcs11:serial=;id=");
    }

    #[test]
    fn refuses_bad_input_with_named_errors() {
        let cases: &[(&str, UriError)] = &[
            ("pkcs12:token=a", UriError::Scheme),
            ("token=a", UriError::Scheme),
            (
                "pkcs11:token",
                UriError::MalformedPathAttribute {
                    text: "token".into(),
                },
            ),
            (
                "pkcs11:token=a;",
                UriError::MalformedPathAttribute { text: "".into() },
            ),
            (
                "pkcs11:?pin-source",
                UriError::MalformedQueryAttribute {
                    text: "pin-source".into(),
                },
            ),
            ("pkcs11:to ken=a", UriError::Whitespace),
            ("pkcs11:token=My Token", UriError::Whitespace),
            (
                "pkcs11:tok.en=a",
                UriError::BadAttributeName {
                    name: "tok.en".into(),
                },
            ),
            (
                "pkcs11:token=a/b",
                UriError::UnencodedCharacter {
                    name: "token".into(),
                    found: '/',
                    encoded: "%2F".into(),
                },
            ),
            (
                "pkcs11:token=é",
                UriError::UnencodedCharacter {
                    name: "token".into(),
                    found: 'é',
                    encoded: "%C3%A9".into(),
                },
            ),
            (
                "pkcs11:token=%4",
                UriError::BadPercentEncoding {
                    name: "token".into(),
                },
            ),
            (
                "pkcs11:token=%zz",
                UriError::BadPercentEncoding {
                    name: "token".into(),
                },
            ),
            (
                "pkcs11:token=%FF",
                UriError::NotUtf8 {
                    name: "token".into(),
                },
            ),
            (
                "pkcs11:token=a;token=b",
                UriError::Duplicate {
                    name: "token".into(),
                },
            ),
            (
                "pkcs11:id=%01;id=%02",
                UriError::Duplicate { name: "id".into() },
            ),
            (
                "pkcs11:type=key",
                UriError::BadType {
                    value: "key".into(),
                },
            ),
            ("pkcs11:type=", UriError::BadType { value: "".into() }),
            (
                "pkcs11:slot-id=0x1",
                UriError::BadSlotId {
                    value: "0x1".into(),
                },
            ),
            ("pkcs11:slot-id=", UriError::BadSlotId { value: "".into() }),
            (
                "pkcs11:library-version=1.",
                UriError::BadLibraryVersion { value: "1.".into() },
            ),
            (
                "pkcs11:?module-path=lib/x.so",
                UriError::RelativeModulePath {
                    value: "lib/x.so".into(),
                },
            ),
            (
                "pkcs11:?module-path=x.so",
                UriError::RelativeModulePath {
                    value: "x.so".into(),
                },
            ),
            (
                "pkcs11:?module-name=a%2Fb",
                UriError::BadModuleName {
                    value: "a/b".into(),
                },
            ),
            (
                "pkcs11:?pin-source=env:",
                UriError::BadPinSource {
                    value: "env:".into(),
                },
            ),
            (
                "pkcs11:?pin-source=",
                UriError::BadPinSource { value: "".into() },
            ),
            (
                "pkcs11:?pin-source=prompt&pin-value=1234",
                UriError::PinSourceAndValue,
            ),
            (
                "pkcs11:?pin-value=1234&pin-source=prompt",
                UriError::PinSourceAndValue,
            ),
            (
                "pkcs11:?module-name=a&module-name=b",
                UriError::Duplicate {
                    name: "module-name".into(),
                },
            ),
        ];
        for (text, want) in cases {
            let got = text.parse::<Pkcs11Uri>();
            assert_eq!(got.as_ref().err(), Some(want), "{text}");
        }
    }

    #[test]
    fn query_is_split_on_first_question_mark() {
        // `?` is allowed unencoded inside query values.
        let uri = parse("pkcs11:object=a?pin-source=/run/pin?x&x-vendor=a?b");
        assert_eq!(uri.pin_source_text(), Some("/run/pin?x"));
        assert_eq!(
            uri.vendor_query_attributes(),
            &[("x-vendor".to_owned(), "a?b".to_owned())]
        );
    }

    #[test]
    fn folding_is_removed_but_inner_spaces_are_not() {
        let uri = parse("  pkcs11:token=a;\r\n   object=b\n\t?pin-source=env:P  \n");
        assert_eq!(uri.to_string(), "pkcs11:token=a;object=b?pin-source=env:P");
        // Trailing indentation before a fold is still folding.
        assert_eq!(parse("pkcs11:token=a; \n object=b").object(), Some("b"));
    }

    #[test]
    fn printing_encodes_what_must_be_encoded_and_round_trips() {
        let mut uri = Pkcs11Uri::new();
        uri.set_path_attr(PathAttr::Token, Some("A name; with %, / & ? é"))
            .unwrap();
        uri.set_path_attr(PathAttr::Object, Some("release key"))
            .unwrap();
        uri.set_id(Some(vec![0x00, 0xff, 0x25]));
        uri.set_module_path(Some("/opt/hsm dir/lib.so".into()))
            .unwrap();
        uri.set_pin_source(Some("file:/run/secrets/pin&x")).unwrap();
        let text = uri.to_string();
        assert_eq!(
            text,
            "pkcs11:token=A%20name%3B%20with%20%25,%20%2F%20&%20%3F%20%C3%A9;object=release%20key;\
             id=%00%FF%25?module-path=/opt/hsm%20dir/lib.so&pin-source=file:/run/secrets/pin%26x"
        );
        assert_eq!(parse(&text), uri);
    }

    #[test]
    fn a_pin_value_that_does_not_parse_is_not_quoted() {
        let err = "pkcs11:token=ci?pin-value=12é34".parse::<Pkcs11Uri>();
        assert_eq!(err, Err(UriError::UnencodedSecret));
        assert!(!err.unwrap_err().to_string().contains('é'));
    }

    #[test]
    fn pin_value_is_kept_but_never_printed_or_debugged() {
        let uri = parse("pkcs11:token=ci?pin-value=s3cr3t-pin&module-name=softhsm2");
        assert_eq!(uri.pin_value().map(Secret::expose), Some("s3cr3t-pin"));
        let shown = format!("{uri} {uri:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(uri.to_string(), "pkcs11:token=ci?module-name=softhsm2");
        assert_eq!(parse(&uri.to_string()), uri.without_pin_value());
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(parse("PKCS11:token=a").token(), Some("a"));
    }
}
