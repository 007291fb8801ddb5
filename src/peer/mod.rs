//! peer (in progress).
