//! Content hashes and derived ids. Everything here is a pure function of its input, so the
//! same records give the same ids natively, in wasmtime and in the browser.

use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of a value's JSON form, hashed as it is written: no copy of the JSON is kept.
pub(crate) fn json_sha256_hex<T: Serialize + ?Sized>(value: &T) -> String {
    let mut writer = Sha256Writer::default();
    writer.json(value);
    writer.finish_hex()
}

/// A SHA-256 that JSON is written into, so nothing is hashed from a copy.
#[derive(Default)]
pub(crate) struct Sha256Writer(Sha256);

impl Sha256Writer {
    /// Adds `value`'s JSON form.
    pub(crate) fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Serialising plain data into a writer that cannot fail does not fail.
        let _ = serde_json::to_writer(&mut *self, value);
    }

    /// Adds bytes as they are.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest, hex.
    pub(crate) fn finish_hex(self) -> String {
        hex(&self.0.finalize())
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A short digest of a value's JSON form (maps are ordered, so the form is canonical).
pub(crate) fn digest<T: Serialize + ?Sized>(value: &T) -> String {
    let mut full = json_sha256_hex(value);
    full.truncate(16);
    full
}

/// The namespace of classbridge's derived OneRoster sourcedIds (a fixed, random UUID).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2d0e_8b4a_4f3e_9a57_1c2b_3d4e_5f60);

/// A UUID (version 5) derived from `name`: exporting the same Classroom object twice, or after
/// a reconnect, gives the same sourcedId, so the SIS updates instead of duplicating.
pub(crate) fn stable_uuid(name: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}
