//! Exit codes and how errors map to them.

use std::fmt;

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Trusted, or the command succeeded.
    Success = 0,
    /// Verification refused an artifact; the verdict says why.
    Refused = 1,
    /// Usage or input error: bad flags, unreadable or malformed files, wrong passphrase.
    Usage = 2,
    /// Unknown publisher under a policy that requires a pin.
    UnknownPublisher = 3,
    /// Hardware or token error.
    Hardware = 4,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The worse of two outcomes, for commands that decide about many artifacts: hardware
    /// and input errors first, then refusals, then unknown publishers.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Success => 0,
                Exit::UnknownPublisher => 1,
                Exit::Refused => 2,
                Exit::Usage => 3,
                Exit::Hardware => 4,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl fmt::Display for Failure {
    /// The error and its causes, `: `-separated; a cause whose text the message already
    /// includes (library errors often say their source inline) is not repeated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.error.to_string();
        for cause in self.error.chain().skip(1) {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
        }
        f.write_str(&text)
    }
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::Usage,
            error: error.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Classifies a library error by what it is: device and token failures are hardware errors,
/// everything else is a usage or input error.
pub fn classify(error: anyhow::Error) -> Failure {
    let hardware = error.chain().any(is_hardware);
    Failure {
        exit: if hardware {
            Exit::Hardware
        } else {
            Exit::Usage
        },
        error,
        hint: None,
    }
}

fn is_hardware(error: &(dyn std::error::Error + 'static)) -> bool {
    use hallmark_signer::keyref::OpenError;
    if let Some(err) = error.downcast_ref::<hallmark_hsm::pkcs11::Error>() {
        return !err.is_usage();
    }
    // `#[error(transparent)]` variants hide the inner error from the source chain.
    if let Some(OpenError::Pkcs11(err)) = error.downcast_ref::<OpenError>() {
        return !err.is_usage();
    }
    false
}

pub type CmdResult = Result<Exit, Failure>;

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        classify(error.into())
    }
}
