//! The command-line definition, as a library: the binary parses it, and the generator of
//! the man pages and completion scripts (tools/docgen) reads the very same definition.
//! Nothing else is public here; the rest of the program lives in the binary.

pub mod cli;
pub mod completion;
