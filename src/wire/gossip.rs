//! BOLT wire: gossip (in progress).
