//! The HTTP toolkit every surface's handlers share: how a handler reads a
//! request (JSON bodies, list queries, `If-Match`) and shapes an answer
//! (`ETag`), request ids, the caller's `Request-Timeout`, and errors on the
//! wire (`problem`). Nothing here knows a resource.

pub mod body;
pub mod client;
pub mod conditional;
pub mod observe;
pub mod page;
pub mod params;
pub mod problem;
pub mod request_id;
pub mod timeout;
