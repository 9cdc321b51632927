//! One renderer per output format, all over [`crate::report::Report`].

pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;
