//! Why the core refused something a peer sent, and what the refusal says.
//!
//! Owns the error types of the network side. Every variant documents the two things an operator
//! and a test need, in the manner of foca's errors: whether any state was touched before the
//! refusal (so whether the refusal left the daemon exactly as it was), and who is likely at
//! fault ([`Culprit`]). A refusal is counted (`datagrams_dropped`) and logged, never fatal; this
//! module only describes, it never decides what to drop.

use super::membership::{ControlError, HelloRejected, Invalid};
use super::packet::DecodeError;
use std::fmt;

/// Who is likely at fault when the core refuses what a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// The sender: a program that is not a gcs daemon, a daemon with a bug, or one that lies.
    Sender,
    /// The setup: the daemons are configured inconsistently (cluster names, peer lists, daemon
    /// names, limits, software versions).
    Configuration,
}

impl fmt::Display for Culprit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Culprit::Sender => write!(f, "the sender is likely at fault"),
            Culprit::Configuration => {
                write!(f, "the daemons' configurations likely differ")
            }
        }
    }
}

/// A datagram, or one part of it, that the core refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The bytes are not a datagram of this format and version.
    ///
    /// State: untouched. Culprit: configuration for another version of the format, the sender
    /// otherwise (not a gcs daemon, or a daemon that sends junk).
    #[error(transparent)]
    Undecodable(#[from] DecodeError),
    /// A datagram of another cluster.
    ///
    /// State: untouched. Culprit: configuration (two clusters share addresses).
    #[error("it belongs to cluster '{theirs}', this daemon to '{ours}'")]
    OtherCluster {
        /// The cluster the datagram names.
        theirs: String,
        /// This daemon's cluster.
        ours: String,
    },
    /// The sender's address is not a configured peer.
    ///
    /// State: untouched. Culprit: configuration (the peer lists differ) or a stranger.
    #[error("the sender is not a configured peer")]
    Stranger,
    /// A hello that contradicts the configuration or what the peer said before.
    ///
    /// State: the sender's datagram counted as a sign of life, and the chunks ahead of the hello
    /// in the same datagram were taken; the hello itself changed nothing. Culprit: see
    /// [`HelloRejected::culprit`].
    #[error(transparent)]
    Hello(#[from] HelloRejected),
    /// A part of a membership message that cannot be taken.
    ///
    /// State: as for a hello, and the sender's partial message may be gone (see
    /// [`ControlError`]). Culprit: see [`ControlError::culprit`].
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A data chunk or acknowledgement with a timestamp no honest daemon can have reached.
    ///
    /// State: from a member of the view, nothing of the datagram was taken, not even as a sign of
    /// life, and the sender is suspected (a view change removes it); from a daemon that just
    /// joined the view in this datagram, its hellos and membership messages were taken. Culprit:
    /// the sender (a bug or a lie).
    #[error("a timestamp far beyond any clock in the cluster")]
    ClockJump,
    /// A membership message that no honest daemon sends (see [`Invalid`]).
    ///
    /// State: as for a hello; the message itself changed nothing. Culprit: the sender.
    #[error(transparent)]
    Membership(#[from] Invalid),
}

impl Refused {
    /// True if anything changed before the refusal (see each variant).
    pub fn touched_state(&self) -> bool {
        match self {
            Refused::Undecodable(_) | Refused::OtherCluster { .. } | Refused::Stranger => false,
            Refused::Hello(_)
            | Refused::Control(_)
            | Refused::ClockJump
            | Refused::Membership(_) => true,
        }
    }

    /// Who is likely at fault.
    pub fn culprit(&self) -> Culprit {
        match self {
            Refused::Undecodable(DecodeError::Version(_))
            | Refused::OtherCluster { .. }
            | Refused::Stranger => Culprit::Configuration,
            Refused::Undecodable(_) | Refused::ClockJump | Refused::Membership(_) => {
                Culprit::Sender
            }
            Refused::Hello(h) => h.culprit(),
            Refused::Control(c) => c.culprit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_names_its_culprit_and_whether_state_was_touched() {
        let cases = [
            (
                Refused::Undecodable(DecodeError::Foreign),
                false,
                Culprit::Sender,
            ),
            (
                Refused::Undecodable(DecodeError::Version(9)),
                false,
                Culprit::Configuration,
            ),
            (
                Refused::Undecodable(DecodeError::Truncated),
                false,
                Culprit::Sender,
            ),
            (
                Refused::OtherCluster {
                    theirs: "a".into(),
                    ours: "b".into(),
                },
                false,
                Culprit::Configuration,
            ),
            (Refused::Stranger, false, Culprit::Configuration),
            (
                Refused::Hello(HelloRejected::ClusterSize {
                    name: "a".into(),
                    theirs: 2,
                    ours: 3,
                }),
                true,
                Culprit::Configuration,
            ),
            (
                Refused::Control(ControlError::PartOutOfRange),
                true,
                Culprit::Sender,
            ),
            (
                Refused::Control(ControlError::TooLarge { max: 10 }),
                true,
                Culprit::Configuration,
            ),
            (Refused::ClockJump, true, Culprit::Sender),
            (
                Refused::Membership(Invalid::RoundOutOfReach {
                    round: 9,
                    ours: 1,
                    step: 2,
                }),
                true,
                Culprit::Sender,
            ),
        ];
        for (refused, touched, culprit) in cases {
            assert_eq!(refused.touched_state(), touched, "{refused}");
            assert_eq!(refused.culprit(), culprit, "{refused}");
        }
    }
}
