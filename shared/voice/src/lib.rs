//! Retell and Vapi behind leadline's provider-neutral call contract
//! (`leadline_core::call`).
