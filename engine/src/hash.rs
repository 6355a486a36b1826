//! Content hashes and derived ids. Everything here is a pure function of its input, so the
//! same records give the same ids natively, in wasmtime and in the browser.

use serde::Serialize;
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A short digest of a value's JSON form (maps are ordered, so the form is canonical).
pub fn digest<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    sha256_hex(&bytes)[..16].to_string()
}

/// The namespace of classbridge's derived OneRoster sourcedIds (a fixed, random UUID).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2d0e_8b4a_4f3e_9a57_1c2b_3d4e_5f60);

/// A UUID (version 5) derived from `name`: exporting the same Classroom object twice, or after
/// a reconnect, gives the same sourcedId, so the SIS updates instead of duplicating.
pub fn stable_uuid(name: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}
