//! Appointments: the business and its services, the calendar port
//! (Cal.com) and the appointment's state machine. Reminders, show
//! verification and rebooking come here.

pub mod appointment;
pub mod business;
pub mod calendar;
