//! A run's stored input and plan body, written compressed (zlib, fastest level) straight from
//! the value: L's first plan body is 949 MB of JSON and a part's input 851 MB, which the host
//! held as one string beside the value it was written from, and stored as it was. Rows written
//! before this are text and read as they are.

use std::io::{BufReader, Read};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The reader's buffer in front of the decompressor: `serde_json` reads a byte at a time.
const READ_BUFFER: usize = 1 << 16;

/// `value` as JSON, compressed, without its whole text in memory at any point.
pub(super) fn compress<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    serde_json::to_writer(&mut encoder, value)?;
    encoder.finish().map_err(serde_json::Error::io)
}

/// A stored document as read from its column.
pub(crate) enum StoredDoc {
    /// Written before documents were compressed.
    Text(String),
    Compressed(Vec<u8>),
}

impl FromSql for StoredDoc {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|t| StoredDoc::Text(t.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(b) => Ok(StoredDoc::Compressed(b.to_vec())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl StoredDoc {
    /// The document parsed, reading compressed ones through the decompressor rather than
    /// into a text first.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            StoredDoc::Text(t) => serde_json::from_str(t),
            StoredDoc::Compressed(b) => serde_json::from_reader(BufReader::with_capacity(
                READ_BUFFER,
                ZlibDecoder::new(b.as_slice()),
            )),
        }
    }

    /// The document's JSON text.
    pub(crate) fn into_text(self) -> std::io::Result<String> {
        match self {
            StoredDoc::Text(t) => Ok(t),
            StoredDoc::Compressed(b) => {
                let mut text = String::new();
                ZlibDecoder::new(b.as_slice()).read_to_string(&mut text)?;
                Ok(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_compressed_document_reads_back_as_written_and_smaller() {
        let doc = json!({"pages": vec!["{\"users\":[{\"sourcedId\":\"u1\"}]}"; 500]});
        let stored = compress(&doc).unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            stored.len() * 10 < text.len(),
            "{} of {}",
            stored.len(),
            text.len()
        );
        let read = StoredDoc::Compressed(stored);
        assert_eq!(read.parse::<Value>().unwrap(), doc);
        assert_eq!(read.into_text().unwrap(), text);
    }

    #[test]
    fn text_written_before_compression_still_reads() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE d (body TEXT NOT NULL); INSERT INTO d VALUES ('{\"a\":1}');",
        )
        .unwrap();
        db.execute(
            "INSERT INTO d VALUES (?1)",
            [compress(&json!({"a": 2})).unwrap()],
        )
        .unwrap();
        let mut stmt = db.prepare("SELECT body FROM d ORDER BY rowid").unwrap();
        let docs: Vec<StoredDoc> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let values: Vec<Value> = docs.iter().map(|d| d.parse().unwrap()).collect();
        assert_eq!(values, vec![json!({"a": 1}), json!({"a": 2})]);
    }

    #[test]
    fn a_damaged_document_is_an_error_not_a_panic() {
        let mut stored = compress(&json!({"a": [1, 2, 3]})).unwrap();
        let middle = stored.len() / 2;
        stored.truncate(middle);
        assert!(
            StoredDoc::Compressed(stored.clone())
                .parse::<Value>()
                .is_err()
        );
        assert!(StoredDoc::Compressed(stored).into_text().is_err());
    }
}
