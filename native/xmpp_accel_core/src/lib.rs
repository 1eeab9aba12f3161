pub mod fanout;
#[cfg(feature = "mam")]
pub mod mam;
pub mod xml;
