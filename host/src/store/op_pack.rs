//! How a run's operations are kept in `run_ops`: deflated against a dictionary of typical
//! operations. Each operation is compressed alone (the console reads them one page at a time),
//! and alone most of an operation is what every operation shares: its keys, the action and
//! effect shapes, the phrases of its explanation. With the dictionary those are written once,
//! in the program, not in every row: S's 25,975 operations take 6.3 MB instead of 18.5 MB
//! deflated alone (BENCHMARKS.md §8).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// One stored operation of each common kind, rarest first (deflate reaches the end of a
/// dictionary most cheaply). Part of the stored format: never edit it (a test pins its
/// digest); a better one comes with a new tag.
const DICTIONARY_1: &[u8] = include_bytes!("op_dictionary_1.json");

/// The first byte of an operation deflated against [`DICTIONARY_1`]. Read as the start of a
/// raw deflate stream it would be a final block of the reserved type 3, which no deflate
/// stream begins with: rows packed before the dictionary (plain deflate) are told apart.
const TAG_DICTIONARY_1: u8 = 0x07;

/// The most one stored operation may inflate to: an operation is a few kilobytes, so more
/// means the row is damaged, and reading stops instead of filling memory.
const MAX_OP_BYTES: usize = 64 << 20;

/// Why a stored operation could not be packed or read.
#[derive(Debug, thiserror::Error)]
pub(super) enum PackError {
    #[error("deflate: {0}")]
    Compress(#[from] flate2::CompressError),
    #[error("inflate: {0}")]
    Decompress(#[from] flate2::DecompressError),
    #[error("the deflated data ends before its stream does")]
    Truncated,
    #[error("it inflates to more than {} MB", MAX_OP_BYTES >> 20)]
    TooLarge,
    #[error("it is not UTF-8 JSON text")]
    NotText,
}

/// Packs an operation's JSON: the tag, then raw deflate against the dictionary.
pub(super) fn pack(json: &str) -> Result<Vec<u8>, PackError> {
    let input = json.as_bytes();
    let mut deflate = Compress::new(Compression::fast(), false);
    deflate.set_dictionary(DICTIONARY_1)?;
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    out.push(TAG_DICTIONARY_1);
    loop {
        let read = usize::try_from(deflate.total_in()).unwrap_or(input.len());
        let rest = input.get(read..).unwrap_or_default();
        if deflate.compress_vec(rest, &mut out, FlushCompress::Finish)? == Status::StreamEnd {
            return Ok(out);
        }
        out.reserve(out.capacity().max(256));
    }
}

/// An operation's JSON from a stored blob: deflated against the dictionary (tagged), or plain
/// deflate, as rows packed before the dictionary are.
pub(super) fn unpack(blob: &[u8]) -> Result<String, PackError> {
    let (dictionary, data) = match blob.split_first() {
        Some((&TAG_DICTIONARY_1, data)) => (Some(DICTIONARY_1), data),
        _ => (None, blob),
    };
    let mut inflate = Decompress::new(false);
    if let Some(dictionary) = dictionary {
        inflate.set_dictionary(dictionary)?;
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(MAX_OP_BYTES));
    loop {
        let (read, written) = (inflate.total_in(), inflate.total_out());
        let at = usize::try_from(read).unwrap_or(data.len());
        let rest = data.get(at..).unwrap_or_default();
        if inflate.decompress_vec(rest, &mut out, FlushDecompress::Finish)? == Status::StreamEnd {
            break;
        }
        if inflate.total_in() == read
            && inflate.total_out() == written
            && out.len() < out.capacity()
        {
            return Err(PackError::Truncated);
        }
        if out.len() >= MAX_OP_BYTES {
            return Err(PackError::TooLarge);
        }
        out.reserve(out.capacity().max(1024));
    }
    String::from_utf8(out).map_err(|_| PackError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const OP: &str = r#"{"opId":"0a1b2c3d4e5f6071","key":"student.add:d:cl7:s12@students.example.org","entity":"student","change":"create","classId":"cl7","schoolId":"sch1","person":"s12@students.example.org","summary":"add student Ana Ruiz (s12@students.example.org) to 'Biology 7' (P2, School 1)","action":{"type":"classroomAddStudent","alias":"d:cl7","user_id":"s12@students.example.org"},"effect":{"type":"memberAdded","class_id":"cl7","role":"student","email":"s12@students.example.org"},"why":{"text":"because the SIS's enrollment 'e-cl7-s12' is new","causes":[{"collection":"enrollments","id":"e-cl7-s12","change":"added","says":"the SIS's enrollment 'e-cl7-s12' is new"}]}}"#;

    fn plain_deflate(json: &str) -> Vec<u8> {
        use std::io::Write as _;
        let mut out = flate2::write::DeflateEncoder::new(Vec::new(), Compression::fast());
        out.write_all(json.as_bytes()).expect("in memory");
        out.finish().expect("in memory")
    }

    #[test]
    fn an_operation_comes_back_as_it_went_in_and_smaller_than_deflate_alone() {
        let packed = pack(OP).expect("pack");
        assert_eq!(unpack(&packed).expect("unpack"), OP);
        let alone = plain_deflate(OP);
        assert!(
            packed.len() * 2 < alone.len(),
            "{} bytes with the dictionary, {} without",
            packed.len(),
            alone.len()
        );
        let long = format!("{{\"summary\":\"{}\"}}", "é".repeat(100_000));
        assert_eq!(unpack(&pack(&long).expect("pack")).expect("unpack"), long);
    }

    #[test]
    fn rows_packed_before_the_dictionary_still_read() {
        assert_eq!(unpack(&plain_deflate(OP)).expect("unpack"), OP);
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_hang_or_a_panic() {
        let packed = pack(OP).expect("pack");
        assert!(unpack(&packed[..packed.len() / 2]).is_err());
        assert!(unpack(&[TAG_DICTIONARY_1, 0xff, 0xff, 0xff]).is_err());
        assert!(unpack(&[]).is_err());
    }

    /// The dictionary is part of what is stored: rows packed with it read only with it.
    #[test]
    fn the_dictionary_never_changes() {
        let digest = Sha256::digest(DICTIONARY_1);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PINNED, "make a new dictionary with a new tag instead");
    }

    const PINNED: &str = "b39f8f335c66f611785152a6083f62b3c039eda5333e8523ef3fdc7394fba8a3";
}
