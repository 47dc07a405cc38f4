//! Membership messages: what the daemons say to each other in a view change, and how a message
//! travels as control chunks (split to fit datagrams, reassembled on arrival, one message per
//! sender at a time, bounded by `limits.max_membership_message`).
//!
//! Owns the message types and their codec (MessagePack inside control chunks, whose own layout
//! is in `packet`). It never decides anything about a view change: the roles do.

use super::peers::DaemonId;
use crate::core::packet::Chunk;
use crate::core::time::Time;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Identifies one attempt at a view change; a later attempt replaces an earlier one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attempt {
    /// Grows with every attempt anyone makes.
    pub round: u64,
    /// Who runs it.
    pub coordinator: SocketAddr,
    /// The coordinator's life: a restarted coordinator's attempts are new ones, even where its
    /// rounds start again from the beginning.
    pub incarnation: u64,
}

/// A membership message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// From the coordinator: "let us form a view of these daemons".
    Propose {
        /// The attempt.
        attempt: Attempt,
        /// The proposed members, sorted.
        members: Vec<DaemonId>,
    },
    /// To the coordinator: where this member stands in its old view.
    State {
        /// The attempt.
        attempt: Attempt,
        /// The member's state.
        state: FlushState,
    },
    /// From the coordinator: what each old view's survivors deliver before the new view.
    Commit {
        /// The attempt.
        attempt: Attempt,
        /// One per old view among the members.
        cuts: Vec<Cut>,
    },
    /// To the coordinator: the member holds its cut.
    Ready {
        /// The attempt.
        attempt: Attempt,
        /// What it announces.
        ready: ReadyState,
    },
    /// From the coordinator: the new view.
    Install {
        /// The attempt.
        attempt: Attempt,
        /// The view.
        install: Install,
    },
    /// To a coordinator whose proposal is older than an attempt this daemon already joined:
    /// "propose again above this round".
    Behind {
        /// The round of the attempt this daemon joined.
        round: u64,
    },
    /// "This daemon is stopping": remove it now rather than after the failure timeout.
    Bye {
        /// The life that ends.
        incarnation: u64,
    },
}

/// A member's place in its old view.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FlushState {
    /// Who.
    pub who: DaemonId,
    /// Its view id (0 if it has none yet).
    pub view: u64,
    /// How much of each stream of the old view it holds.
    pub contiguous: Vec<u64>,
    /// Per stream: the timestamp below which it holds every item of the stream.
    pub heard: Vec<u64>,
    /// The place in the total order of the last item it delivered.
    pub delivered: (u64, u16),
}

/// What the survivors of one old view agree to deliver.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The old view.
    pub view: u64,
    /// The members of the new view that come from it (a daemon that moved on to another view
    /// meanwhile has left it, even if it is in the new view too), sorted.
    pub survivors: Vec<DaemonId>,
    /// Per stream: deliver up to here.
    pub cut: Vec<u64>,
    /// Per stream: the largest `heard` of any survivor.
    pub heard: Vec<u64>,
    /// The furthest any survivor delivered in the total order.
    pub delivered: (u64, u16),
}

/// A member that holds its cut.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReadyState {
    /// Who.
    pub who: DaemonId,
    /// Its Lamport clock.
    pub clock: u64,
    /// At most how many group views its flush makes.
    pub views: u64,
    /// Its local group members as they will be after the flush: (group, member).
    pub local: Vec<(String, String)>,
}

/// The new view.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Its id.
    pub view: u64,
    /// Its members, sorted.
    pub members: Vec<DaemonId>,
    /// Views made while installing are numbered from this timestamp on.
    pub ts: u64,
    /// The old views being merged (those with a flush), sorted: each numbers its own views
    /// (transitional views, operations after them) in a range of its own.
    pub components: Vec<u64>,
    /// How many ids each old view's range holds.
    pub views: u64,
    /// The new view's clocks start here (beyond every view made while installing).
    pub clock: u64,
    /// Every member's local group members: (group, member).
    pub local: Vec<(String, String)>,
}

/// Why a part of a membership message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The part's number is beyond the parts its message announces.
    ///
    /// State: the sender's partial message may have been replaced by this one's (a part of a
    /// newer message starts it). Culprit: the sender.
    #[error("a part number beyond the message")]
    PartOutOfRange,
    /// The message grew beyond the limit.
    ///
    /// State: the sender's partial message is dropped. Culprit: configuration (the daemons'
    /// `limits.max_membership_message` differ), or a sender that sends too much.
    #[error("a membership message larger than {max} bytes (limits.max_membership_message)")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The whole message does not decode.
    ///
    /// State: the sender's partial message is used up. Culprit: the sender (a bug, or a daemon
    /// of another version).
    #[error("an undecodable membership message: {0}")]
    Undecodable(String),
}

impl ControlError {
    /// Who is likely at fault.
    pub fn culprit(&self) -> crate::core::Culprit {
        match self {
            ControlError::TooLarge { .. } => crate::core::Culprit::Configuration,
            _ => crate::core::Culprit::Sender,
        }
    }
}

/// Reassembles control messages from their parts, one message per sender at a time.
#[derive(Debug, Default)]
pub(crate) struct ControlIn {
    partial: BTreeMap<SocketAddr, Assembly>,
}

#[derive(Debug)]
struct Assembly {
    msg: u64,
    /// When its last new part came.
    last: Time,
    parts: Vec<Option<Bytes>>,
    bytes: usize,
    /// Parts that have arrived: counted, so each part costs the same however many there are.
    have: usize,
}

impl ControlIn {
    /// Takes in one part, arrived at `now`; returns the message once it is complete and
    /// decodes. A message of more than `max` bytes (`limits.max_membership_message`) is refused,
    /// and any sender's partial message no new part of which has come for `idle` is dropped, so
    /// what a peer stopped sending is not held for good.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn receive(
        &mut self,
        from: SocketAddr,
        msg: u64,
        part: u16,
        parts: u16,
        body: Bytes,
        max: usize,
        now: Time,
        idle: Duration,
    ) -> Result<Option<Control>, ControlError> {
        self.partial
            .retain(|_, a| now.saturating_since(a.last) < idle);
        if parts == 1 {
            return decode(&body).map(Some);
        }
        let a = self.partial.entry(from).or_insert_with(|| Assembly {
            msg,
            last: now,
            parts: vec![None; parts as usize],
            bytes: 0,
            have: 0,
        });
        if a.msg != msg || a.parts.len() != parts as usize {
            if msg < a.msg {
                return Ok(None); // a late part of an older message
            }
            *a = Assembly {
                msg,
                last: now,
                parts: vec![None; parts as usize],
                bytes: 0,
                have: 0,
            };
        }
        let Some(slot) = a.parts.get_mut(part as usize) else {
            return Err(ControlError::PartOutOfRange);
        };
        if slot.is_none() {
            a.bytes += body.len();
            if a.bytes > max {
                self.partial.remove(&from);
                return Err(ControlError::TooLarge { max });
            }
            *slot = Some(body);
            a.have += 1;
            a.last = now;
        }
        if a.have < a.parts.len() {
            return Ok(None);
        }
        let Some(a) = self.partial.remove(&from) else {
            return Ok(None);
        };
        let mut whole = Vec::with_capacity(a.bytes);
        for p in a.parts.into_iter().flatten() {
            whole.extend_from_slice(&p);
        }
        decode(&whole).map(Some)
    }
}

/// Decodes one whole membership message.
pub fn decode(bytes: &[u8]) -> Result<Control, ControlError> {
    rmp_serde::from_slice(bytes).map_err(|e| ControlError::Undecodable(e.to_string()))
}

/// Splits `control` into chunks of at most `max_body` bytes each; nothing if it is larger than
/// `max` bytes in all (`limits.max_membership_message`).
pub fn encode(control: &Control, msg: u64, max_body: usize, max: usize) -> Vec<Chunk> {
    let Ok(bytes) = rmp_serde::to_vec(control) else {
        return Vec::new();
    };
    if bytes.len() > max {
        tracing::error!(
            bytes = bytes.len(),
            "a membership message is larger than limits.max_membership_message ({max} bytes); \
             not sent, so this daemon will be left out of the new view: raise the limit on \
             every daemon"
        );
        return Vec::new();
    }
    let bytes = Bytes::from(bytes);
    let size = max_body.max(1);
    let parts = bytes.len().div_ceil(size).max(1);
    if parts > u16::MAX as usize {
        tracing::error!("a membership message is too large to send; dropped");
        return Vec::new();
    }
    (0..parts)
        .map(|i| Chunk::Control {
            msg,
            part: i as u16,
            parts: parts as u16,
            body: bytes.slice(i * size..((i + 1) * size).min(bytes.len())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn a_bye() -> Control {
        Control::Bye { incarnation: 7 }
    }

    fn parts(chunks: Vec<Chunk>) -> Vec<(u64, u16, u16, Bytes)> {
        chunks
            .into_iter()
            .filter_map(|c| match c {
                Chunk::Control {
                    msg,
                    part,
                    parts,
                    body,
                } => Some((msg, part, parts, body)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_message_split_over_many_parts_is_reassembled_in_any_order() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut pieces = parts(encode(&a_bye(), 3, 2, 1024));
        assert!(pieces.len() > 1, "a two-byte body splits a bye");
        pieces.reverse();
        let mut input = ControlIn::default();
        let mut got = None;
        for (msg, part, n, body) in pieces {
            if let Some(c) = input
                .receive(from, msg, part, n, body, 1024, Time(0), SECOND)
                .unwrap()
            {
                got = Some(c);
            }
        }
        assert!(matches!(got, Some(Control::Bye { incarnation: 7 })));
    }

    #[test]
    fn a_partial_message_nobody_finishes_is_dropped_once_idle() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let pieces = parts(encode(&a_bye(), 3, 2, 1024));
        let mut input = ControlIn::default();
        // All but the last part, at time zero.
        for (msg, part, n, body) in pieces[..pieces.len() - 1].iter().cloned() {
            assert!(input
                .receive(from, msg, part, n, body, 1024, Time(0), SECOND)
                .unwrap()
                .is_none());
        }
        assert_eq!(input.partial.len(), 1);
        // Anyone's part a second later drops it.
        let (msg, part, n, body) = pieces[0].clone();
        let later = Time(0) + SECOND;
        let _ = input.receive(other, msg, part, n, body, 1024, later, SECOND);
        assert!(
            !input.partial.contains_key(&from),
            "the idle partial message is still held"
        );
        // So its last part alone no longer makes a message.
        let (msg, part, n, body) = pieces[pieces.len() - 1].clone();
        assert!(input
            .receive(from, msg, part, n, body, 1024, later, SECOND)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_membership_message_over_the_limit_is_neither_sent_nor_accepted() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(encode(&a_bye(), 1, 1000, 2).is_empty());
        let pieces = parts(encode(&a_bye(), 1, 2, 1024));
        let mut input = ControlIn::default();
        let mut refused = None;
        for (msg, part, n, body) in pieces {
            if let Err(why) = input.receive(from, msg, part, n, body, 3, Time(0), SECOND) {
                refused = Some(why);
                break;
            }
        }
        let why = refused.expect("refused");
        assert_eq!(why, ControlError::TooLarge { max: 3 });
        assert!(why.to_string().contains("limits.max_membership_message"));
    }
}
