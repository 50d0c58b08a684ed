//! When a lead asked to be called back, resolved in code from what the
//! agent's analysis says (see the module's functions).
