//! Simulated voice providers.
