//! BOLT wire: bigsize (in progress).
