//! Calling: the lead and its call attempts, calling hours, placing calls
//! within every concurrency and pace limit, what the providers tell about a
//! call, retries and callbacks, the do-not-call list, and the sweep that
//! finishes what should have happened.

pub mod attempt;
pub mod call;
pub mod call_events;
pub mod callback_time;
pub mod calling_hours;
pub mod details;
pub mod dispatch;
pub mod follow_up;
pub mod inbound;
pub mod lead;
pub mod outbound;
pub mod suppression;
pub mod sweep;
pub mod waiting;
pub mod work;
