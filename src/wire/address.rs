//! BOLT wire: address (in progress).
