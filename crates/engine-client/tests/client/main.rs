//! Integration tests of the client against the testkit's `MockEl`: one module per scenario.
//! Everything talks to 127.0.0.1 on ports the mocks chose.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bounds;
mod engine_methods;
mod eth;
mod faults;
mod harness;
mod health;
mod jwt;
mod pool;
mod retries;
mod stub;
mod tls;
mod wire;
