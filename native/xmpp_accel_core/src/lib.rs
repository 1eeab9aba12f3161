pub mod fanout;
#[cfg(feature = "mam")]
pub mod mam;
#[cfg(feature = "muclight")]
pub mod muclight;
#[cfg(feature = "tls")]
pub mod tls;
pub mod xml;
