//! The simulator against the contracts, over HTTP as the backend sees it.

mod common;
mod control;
mod faults;
mod inbound;
mod messaging;
mod retell;
mod sendgrid;
mod twilio;
mod vapi;
mod whatsapp;
