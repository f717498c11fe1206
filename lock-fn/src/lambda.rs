//! The Lambda side: the handler that validates a request and answers it, and the invocation loop
//! that runs work left after an answer before taking the next event, then writes the invocation's
//! metrics (EMF).

pub mod emf;
pub mod handler;
pub mod invocation_loop;
