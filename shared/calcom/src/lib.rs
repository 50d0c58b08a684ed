//! Cal.com API v2 behind [`leadline_core::appointments::calendar::Calendar`].
//!
//! The agent books while the lead is still on the phone, so every request is
//! cut off after a few seconds and every failure is sorted into the
//! [`CalendarError`](leadline_core::appointments::calendar::CalendarError) class that
//! decides what the agent says next: offer another slot, or promise a
//! call-back.
//!
//! [`CalcomClient`] does the HTTP; [`wire`] holds what can be checked
//! without it: the request bodies, the reading of answers and the sorting of
//! refusals. What leadline relies on from Cal.com is in `docs/calcom-api.md`.

mod client;
pub mod wire;

pub use client::CalcomClient;
