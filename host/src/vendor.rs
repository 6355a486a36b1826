//! Vendor profiles: where each SIS puts OneRoster, how it authenticates, and the gradebook
//! limits that make other products drop records silently.

use classbridge_engine::config::OneRosterVersion;
use classbridge_engine::model::EntityKind;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum AuthFlavour {
    /// Two-legged OAuth 1.0a, HMAC-SHA256 signatures (OneRoster 1.1).
    Oauth1,
    /// OAuth 2.0 client credentials (OneRoster 1.2, and some 1.1 vendors).
    Oauth2,
}

#[derive(Clone, Copy, Debug)]
pub struct VendorProfile {
    pub name: &'static str,
    pub version: OneRosterVersion,
    pub auth: AuthFlavour,
    /// Prefix before the standard OneRoster path, e.g. Skyward's `/api`.
    pub path_prefix: &'static str,
    /// Token endpoint relative to the base URL, for OAuth 2.0.
    pub token_path: &'static str,
    pub line_item_title_max: Option<usize>,
}

const fn profile(
    name: &'static str,
    version: OneRosterVersion,
    auth: AuthFlavour,
    path_prefix: &'static str,
    line_item_title_max: Option<usize>,
) -> VendorProfile {
    VendorProfile {
        name,
        version,
        auth,
        path_prefix,
        token_path: "/oauth2/token",
        line_item_title_max,
    }
}

use AuthFlavour::{Oauth1, Oauth2};
use OneRosterVersion::{V1_1, V1_2};

pub const PROFILES: &[VendorProfile] = &[
    profile("infinite-campus", V1_1, Oauth1, "", Some(30)),
    profile("skyward-sms", V1_1, Oauth1, "/api", None),
    profile("skyward-qmlativ", V1_1, Oauth2, "/api", None),
    profile("aspen", V1_1, Oauth2, "", Some(50)),
    profile("powerschool", V1_1, Oauth2, "/api", Some(30)),
    profile("lumen-touch", V1_1, Oauth1, "", None),
    profile("blackbaud", V1_2, Oauth2, "", None),
    profile("aeries", V1_1, Oauth1, "", None),
    profile("capita-sims", V1_1, Oauth1, "", None),
    profile("generic-1.1", V1_1, Oauth1, "", None),
    profile("generic-1.2", V1_2, Oauth2, "", None),
];

pub fn profile_named(name: &str) -> Option<&'static VendorProfile> {
    PROFILES.iter().find(|p| p.name == name)
}

impl VendorProfile {
    /// The auth a source uses: as configured, else OAuth 2.0 for 1.2 (the spec's only
    /// option), else the vendor's usual one.
    pub fn auth_for(
        &self,
        version: OneRosterVersion,
        configured: Option<AuthFlavour>,
    ) -> AuthFlavour {
        configured.unwrap_or(match version {
            OneRosterVersion::V1_2 => AuthFlavour::Oauth2,
            OneRosterVersion::V1_1 => self.auth,
        })
    }
}

pub fn profile_names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The OneRoster service roots for a version: (rostering, gradebook).
pub fn service_roots(version: OneRosterVersion, prefix: &str) -> (String, String) {
    match version {
        OneRosterVersion::V1_1 => {
            let root = format!("{prefix}/ims/oneroster/v1p1");
            (root.clone(), root)
        }
        OneRosterVersion::V1_2 => (
            format!("{prefix}/ims/oneroster/rostering/v1p2"),
            format!("{prefix}/ims/oneroster/gradebook/v1p2"),
        ),
    }
}

/// The collections a sync reads, named by the engine's entities in dependency order: the
/// roster, and the SIS's categories when grades flow back (lineItems and results are the
/// gradebook's own and never read for the roster).
pub fn collections_to_read(two_way: bool) -> Vec<&'static str> {
    EntityKind::ROSTER
        .iter()
        .filter(|k| two_way || **k != EntityKind::Category)
        .map(|k| k.collection())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skyward_sms_lives_under_api() {
        let p = profile_named("skyward-sms").unwrap();
        assert_eq!(
            service_roots(p.version, p.path_prefix).0,
            "/api/ims/oneroster/v1p1"
        );
    }

    #[test]
    fn one_point_two_splits_rostering_and_gradebook() {
        let (r, g) = service_roots(OneRosterVersion::V1_2, "");
        assert_eq!(r, "/ims/oneroster/rostering/v1p2");
        assert_eq!(g, "/ims/oneroster/gradebook/v1p2");
    }

    #[test]
    fn every_profile_the_districts_use_exists() {
        for name in [
            "infinite-campus",
            "skyward-sms",
            "skyward-qmlativ",
            "aspen",
            "powerschool",
            "lumen-touch",
            "blackbaud",
            "aeries",
            "capita-sims",
            "generic-1.1",
            "generic-1.2",
        ] {
            assert!(profile_named(name).is_some(), "{name}");
        }
    }
}
