//! Service settings loaded from the environment.
//!
//! | variable        | default                  |
//! |-----------------|--------------------------|
//! | `PORT`          | 9100                     |
//! | `FLEET_ENV`     | `dev`                    |
//! | `DATABASE_URL`  | `mem://<service>`        |
//! | `DB_POOL_SIZE`  | 4                        |
//! | `AUTH_ISSUER`   | `fleet-auth`             |
//! | `AUTH_SECRET`   | `dev-secret`             |

use serde::Serialize;

/// Settings of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub service: String,
    pub environment: String,
    pub port: u16,
    pub database_url: String,
    pub pool_size: usize,
    pub auth_issuer: String,
    /// Never serialised.
    #[serde(skip)]
    pub auth_secret: String,
}

impl Settings {
    /// Settings of `service` from the environment, with development defaults.
    pub fn from_env(service: &str) -> Self {
        Settings {
            service: service.to_owned(),
            environment: common::env_or("FLEET_ENV", "dev"),
            port: common::port_from_env(),
            database_url: common::env_or("DATABASE_URL", &format!("mem://{service}")),
            pool_size: common::env_or("DB_POOL_SIZE", "4")
                .parse()
                .unwrap_or(4)
                .max(1),
            auth_issuer: common::env_or("AUTH_ISSUER", "fleet-auth"),
            auth_secret: common::env_or("AUTH_SECRET", "dev-secret"),
        }
    }

    /// Fixed settings for tests: no environment is read.
    pub fn for_tests(service: &str) -> Self {
        Settings {
            service: service.to_owned(),
            environment: "test".to_owned(),
            port: 0,
            database_url: format!("mem://{service}-test"),
            pool_size: 2,
            auth_issuer: "fleet-auth".to_owned(),
            auth_secret: "test-secret".to_owned(),
        }
    }

    pub fn is_production(&self) -> bool {
        self.environment == "prod"
    }

    /// The settings as JSON, without secrets.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("Settings serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_hides_the_secret() {
        let s = Settings::for_tests("users");
        let json = s.to_json();
        assert_eq!(json["service"], "users");
        assert!(json.get("auth_secret").is_none());
        assert!(!s.is_production());
    }
}
