//! The binary's integration tests, in one test binary: each module is one area of
//! behaviour, and they share one harness (`common`), so the workspace links the binary's
//! tests once instead of once per file.

mod common;

mod add;
mod cli;
mod clients;
mod completion;
mod discover;
mod doctor;
mod doctor_case;
mod doctor_first_run;
mod doctor_network;
mod export;
mod federation;
mod google;
mod hostile;
mod instances;
mod login;
mod packaging;
mod pgadmin;
mod refresh_core;
mod reliability;
mod trust;
mod watch;
