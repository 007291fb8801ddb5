//! BOLT wire: bolt1 (in progress).
