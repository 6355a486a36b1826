//! The canonical data model: OneRoster records and Classroom resources.

pub mod classroom;
pub mod common;
pub(crate) mod dense_map;
pub mod oneroster;
pub mod roster;
pub(crate) mod shared;

pub use classroom::*;
pub use common::*;
pub use oneroster::*;
pub use roster::*;
pub use shared::Shared;
pub(crate) use shared::interning;
