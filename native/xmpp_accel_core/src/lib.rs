pub mod fanout;
pub mod xml;
