//! The ground floor: words every layer uses and none owns. Drop reasons (pipeline verdicts,
//! metric labels, peer penalties), ban offenses (peer scores, metric labels) and disconnect
//! reasons (transport, listener and session endings, metric labels) live here, below everything
//! that names them, so the layers above import them downward and never from each other.
//!
//! Nothing here imports anything from the crate but other vocabulary and the gossip message
//! kinds ([`crate::wire::kind`], one floor below): what a drop costs the sending peer depends
//! on the kind of message (a bad signature is the sender's own fault only on a
//! channel_announcement).

pub mod disconnect;
pub mod drop_reason;
pub mod offense;

pub use disconnect::DISCONNECT_REASONS;
pub use drop_reason::{DropReason, PeerAction};
pub use offense::Offense;
