//! The integration tests: one binary, one module per concern, all against a replica of the
//! USPTO service on 127.0.0.1.

mod support;

mod family;
mod handoff;
mod harvest;
mod hostile;
mod inputs;
mod refresh;
mod robust;
mod speed;
mod waiting;
