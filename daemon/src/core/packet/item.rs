//! Items: what a daemon's stream carries (a client's multicast, a join, a leave), and their byte
//! layout inside data chunks. A multicast travels as its fields and payload; each daemon builds
//! the frame its clients read from them.
//!
//! Owns the item encoding and its defensive decoding; it never looks at datagrams, chunks or
//! order state. Integers are big-endian, strings carry a 16-bit length.

use super::{DecodeError, Reader};
use bytes::{BufMut, Bytes, BytesMut};
use gcs::{Order, Reason};

/// What a daemon's stream carries: a message or a group operation, ordered like a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A client's multicast.
    Multicast {
        /// The delivery order.
        order: Order,
        /// The target groups, without repeats.
        groups: Vec<String>,
        /// The sending client's private name.
        sender: String,
        /// The message as local clients get it: a whole client frame (length prefix included),
        /// encoded once by each daemon from the fields here and handed to every receiving client
        /// unchanged. Never taken from the wire, so a peer cannot make a client read anything but
        /// a message with these groups, this sender and this order.
        frame: Bytes,
        /// The body: the tail of `frame`, which is all of the message the wire carries besides
        /// the fields above.
        payload: Bytes,
    },
    /// `member` joins `group`.
    Join {
        /// The group.
        group: String,
        /// The member's private name.
        member: String,
    },
    /// `member` leaves `group`.
    Leave {
        /// The group.
        group: String,
        /// The member's private name.
        member: String,
        /// Why: leave or disconnect.
        reason: Reason,
    },
}

impl Item {
    /// A multicast item, with its client frame built once here.
    pub fn multicast(order: Order, groups: Vec<String>, sender: String, payload: Bytes) -> Item {
        let len = payload.len();
        let frame = Bytes::from(gcs::wire::encode_response_frame(
            &gcs::wire::Response::Message(gcs::Message {
                groups: groups.clone(),
                sender: sender.clone(),
                order,
                payload,
            }),
        ));
        // The payload is the frame's last field, written as is: share those bytes rather than
        // keep a second copy.
        let payload = frame.slice(frame.len() - len..);
        Item::Multicast {
            order,
            groups,
            sender,
            frame,
            payload,
        }
    }

    /// The message of a multicast item, decoded from its frame (for tests and tools; the daemon
    /// itself never needs to).
    pub fn message(&self) -> Option<gcs::Message> {
        let Item::Multicast { frame, .. } = self else {
            return None;
        };
        match gcs::wire::decode_response(frame.get(4..)?) {
            Ok(gcs::wire::Response::Message(m)) => Some(m),
            _ => None,
        }
    }

    /// The order this item is delivered with; group operations are agreed.
    pub fn order(&self) -> Order {
        match self {
            Item::Multicast { order, .. } => *order,
            Item::Join { .. } | Item::Leave { .. } => Order::Agreed,
        }
    }

    /// True for joins and leaves.
    pub fn is_group_op(&self) -> bool {
        !matches!(self, Item::Multicast { .. })
    }
}

const ITEM_MULTICAST: u8 = 1;
const ITEM_JOIN: u8 = 2;
const ITEM_LEAVE: u8 = 3;

fn order_code(o: Order) -> u8 {
    match o {
        Order::Reliable => 0,
        Order::Fifo => 1,
        Order::Causal => 2,
        Order::Agreed => 3,
        Order::Safe => 4,
    }
}

fn order_from(c: u8) -> Result<Order, DecodeError> {
    Order::ALL
        .get(c as usize)
        .copied()
        .ok_or(DecodeError::Invalid("order"))
}

fn reason_code(r: Reason) -> u8 {
    match r {
        Reason::Join => 0,
        Reason::Leave => 1,
        Reason::Disconnect => 2,
        Reason::Network => 3,
    }
}

fn reason_from(c: u8) -> Result<Reason, DecodeError> {
    Ok(match c {
        0 => Reason::Join,
        1 => Reason::Leave,
        2 => Reason::Disconnect,
        3 => Reason::Network,
        _ => return Err(DecodeError::Invalid("reason")),
    })
}

fn put_str16(buf: &mut BytesMut, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    buf.put_u16(b.len() as u16);
    buf.put_slice(b);
}

/// Encodes an item for a data chunk (or for splitting over several).
pub fn encode_item(item: &Item) -> Bytes {
    let mut buf = BytesMut::new();
    match item {
        Item::Multicast {
            order,
            groups,
            sender,
            payload,
            ..
        } => {
            buf.reserve(
                16 + sender.len()
                    + groups.iter().map(|g| g.len() + 2).sum::<usize>()
                    + payload.len(),
            );
            buf.put_u8(ITEM_MULTICAST);
            buf.put_u8(order_code(*order));
            put_str16(&mut buf, sender);
            buf.put_u16(groups.len().min(u16::MAX as usize) as u16);
            for g in groups.iter().take(u16::MAX as usize) {
                put_str16(&mut buf, g);
            }
            buf.put_slice(payload);
        }
        Item::Join { group, member } => {
            buf.put_u8(ITEM_JOIN);
            put_str16(&mut buf, group);
            put_str16(&mut buf, member);
        }
        Item::Leave {
            group,
            member,
            reason,
        } => {
            buf.put_u8(ITEM_LEAVE);
            put_str16(&mut buf, group);
            put_str16(&mut buf, member);
            buf.put_u8(reason_code(*reason));
        }
    }
    buf.freeze()
}

/// Decodes an item. A multicast's client frame is built here, from the decoded fields.
pub fn decode_item(bytes: Bytes) -> Result<Item, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let str16 = |r: &mut Reader| -> Result<String, DecodeError> {
        let n = r.u16()? as usize;
        r.string(n)
    };
    let item = match r.u8()? {
        ITEM_MULTICAST => {
            let order = order_from(r.u8()?)?;
            let sender = str16(&mut r)?;
            let n = r.u16()? as usize;
            if n == 0 {
                return Err(DecodeError::Invalid("multicast without groups"));
            }
            if n * 2 > r.left() {
                return Err(DecodeError::Truncated);
            }
            let groups = (0..n)
                .map(|_| str16(&mut r))
                .collect::<Result<Vec<_>, _>>()?;
            let payload = r.take(r.left())?;
            Item::multicast(order, groups, sender, payload)
        }
        ITEM_JOIN => {
            let group = str16(&mut r)?;
            let member = str16(&mut r)?;
            Item::Join { group, member }
        }
        ITEM_LEAVE => {
            let group = str16(&mut r)?;
            let member = str16(&mut r)?;
            let reason = reason_from(r.u8()?)?;
            Item::Leave {
                group,
                member,
                reason,
            }
        }
        _ => return Err(DecodeError::Invalid("item kind")),
    };
    if !r.is_done() && !matches!(item, Item::Multicast { .. }) {
        return Err(DecodeError::Invalid("trailing bytes after an item"));
    }
    Ok(item)
}
