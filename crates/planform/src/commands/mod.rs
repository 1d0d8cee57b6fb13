//! One module per subcommand: clap arguments, their resolution into a validated library
//! config, and the call into the library.

pub mod bench;
pub mod gen;
pub mod inspect;
pub mod solve;
