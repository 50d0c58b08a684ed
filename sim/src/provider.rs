//! The two simulated providers, and values kept per provider account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Retell,
    Vapi,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Retell, Provider::Vapi];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Retell => "retell",
            Provider::Vapi => "vapi",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "retell" => Ok(Provider::Retell),
            "vapi" => Ok(Provider::Vapi),
            other => Err(format!("unknown provider {other:?} (retell or vapi)")),
        }
    }
}

/// One value for each provider account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerProvider<T> {
    pub retell: T,
    pub vapi: T,
}

impl<T> PerProvider<T> {
    pub fn both(value: T) -> Self
    where
        T: Clone,
    {
        Self {
            retell: value.clone(),
            vapi: value,
        }
    }

    pub fn get(&self, provider: Provider) -> &T {
        match provider {
            Provider::Retell => &self.retell,
            Provider::Vapi => &self.vapi,
        }
    }

    pub fn get_mut(&mut self, provider: Provider) -> &mut T {
        match provider {
            Provider::Retell => &mut self.retell,
            Provider::Vapi => &mut self.vapi,
        }
    }
}
