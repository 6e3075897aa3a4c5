//! Subcommands.

pub(crate) mod check;
pub(crate) mod run;
