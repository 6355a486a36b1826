//! Stand-in OneRoster and Google Classroom servers for loopback tests and the demo, written
//! from the public specs (not from classbridge's client), and a seeded district generator.

pub mod change_feed;
pub mod classroom;
pub mod classroom_api;
pub mod district;
pub mod faults;
pub mod rng;
pub mod sis;
pub mod sis_paths;
pub mod sis_writes;
pub mod workload;
