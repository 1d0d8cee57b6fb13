//! One module per subcommand: clap arguments, their resolution into a validated library
//! config, and the call into the library.

pub mod bench;
pub mod bootstrap;
pub mod coconut;
pub mod demo;
pub mod eval;
pub mod export;
pub mod gen;
pub mod inspect;
pub mod plot;
pub mod predict;
pub mod quantize;
pub mod recipe;
pub mod report;
pub mod show;
pub mod solve;
pub mod sweep;
pub mod train;
pub mod view;
