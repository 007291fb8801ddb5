//! BOLT wire: tlv (in progress).
