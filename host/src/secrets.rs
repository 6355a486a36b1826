//! Secrets by reference only: the config names an environment variable or a file, never the
//! value. A [`Secret`] never prints itself, so it cannot leak through logs or errors.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// The value of this environment variable.
    Env(String),
    /// The content of this file (trailing newline trimmed).
    File(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret environment variable {0} is not set")]
    EnvMissing(String),
    #[error("secret file {path} could not be read")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret {0} is empty")]
    Empty(String),
}

impl SecretRef {
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(v) => format!("env:{v}"),
            SecretRef::File(p) => format!("file:{p}"),
        }
    }

    /// Secret files named relative to the config file are found beside it.
    pub fn relative_to(&mut self, dir: &std::path::Path) {
        if let SecretRef::File(p) = self
            && std::path::Path::new(p).is_relative()
        {
            *p = dir.join(&*p).display().to_string();
        }
    }

    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let value = match self {
            SecretRef::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::EnvMissing(name.clone()))?
            }
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(Secret(value))
    }
}

/// A secret value. `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_themselves() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_missing_env_secret_names_the_variable_not_a_value() {
        let err = SecretRef::Env("CLASSBRIDGE_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("CLASSBRIDGE_TEST_SURELY_UNSET"));
    }
}
