//! BOLT wire: features (in progress).
