//! BOLT wire: scid (in progress).
