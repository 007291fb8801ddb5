//! BOLT wire: queries (in progress).
