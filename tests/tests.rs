//! The integration tests: one binary, one module per concern, all against a replica of the
//! USPTO service on 127.0.0.1.
//!
//! Waiting is tested in-process on tokio's paused clock (`waiting.rs` measures each wait of
//! the fetcher in virtual time; the harvests through faults in `robust.rs` wait at the real
//! defaults at no real cost). Tests that run the binary assert generous time bounds only.

mod support;

mod descent;
mod family;
mod handoff;
mod harvest;
mod hostile;
mod inputs;
mod refresh;
mod robust;
mod speed;
mod waiting;
