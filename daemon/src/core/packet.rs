//! The daemon-to-daemon wire format: datagrams, the chunks inside them, and the items (messages
//! and group operations) that travel in data chunks.
//!
//! Owns encoding and defensive decoding. Every datagram starts with a magic, a format version and
//! the cluster name, so traffic of another program, version or cluster is recognised and dropped.
//! A datagram carries several chunks (data, acknowledgements, NACKs, hellos), which is how small
//! messages and acknowledgements are batched. Integers are big-endian.
//!
//! Decoding never panics and never allocates more than the datagram's own length suggests: every
//! length is checked against what is left before it is used.

use bytes::{BufMut, Bytes, BytesMut};
use gcs::{Order, Reason};
use std::fmt;

/// First bytes of every gcs datagram.
pub const MAGIC: [u8; 4] = *b"GCSD";

/// The format version this daemon speaks; datagrams of another version are dropped.
pub const WIRE_VERSION: u8 = 3;

/// The sender index a datagram carries before its sender has formed a view.
pub const NO_INDEX: u16 = u16::MAX;

/// How much an arena grows by when it runs low (see [`DatagramBuilder::in_arena`]).
const ARENA_BLOCK: usize = 256 * 1024;

/// Bytes a data chunk takes besides its body.
pub const DATA_CHUNK_OVERHEAD: usize = 1 + 2 + 8 + 8 + 8 + 1 + 4;

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// It does not start with [`MAGIC`]: not a gcs datagram.
    Foreign,
    /// Another format version.
    Version(u8),
    /// It ends before a field it announces.
    Truncated,
    /// A field holds a value that is not allowed.
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Foreign => write!(f, "not a gcs datagram"),
            DecodeError::Version(v) => write!(
                f,
                "wire format version {v}, this daemon speaks {WIRE_VERSION}"
            ),
            DecodeError::Truncated => write!(f, "truncated"),
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

/// Which part of an item a data chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frag {
    /// The whole item.
    Whole,
    /// The first part of an item split over several chunks.
    First,
    /// A part in the middle.
    Middle,
    /// The last part.
    Last,
}

impl Frag {
    fn code(self) -> u8 {
        match self {
            Frag::Whole => 0,
            Frag::First => 1,
            Frag::Middle => 2,
            Frag::Last => 3,
        }
    }

    fn from_code(c: u8) -> Result<Frag, DecodeError> {
        Ok(match c {
            0 => Frag::Whole,
            1 => Frag::First,
            2 => Frag::Middle,
            3 => Frag::Last,
            _ => return Err(DecodeError::Invalid("fragment kind")),
        })
    }

    /// True if the item is complete after this chunk.
    pub fn ends_item(self) -> bool {
        matches!(self, Frag::Whole | Frag::Last)
    }
}

/// One unit of a daemon's reliable stream: a whole item or a fragment of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChunk {
    /// The daemon that created it (its index in the view).
    pub origin: u16,
    /// Its position in the origin's stream, from 1.
    pub seq: u64,
    /// The origin's Lamport clock when it created the item.
    pub ts: u64,
    /// How many group operations the origin had ordered when it created the item.
    pub epoch: u64,
    /// Which part of the item this is.
    pub frag: Frag,
    /// The encoded item, or this fragment of it.
    pub body: Bytes,
}

/// What a daemon has received and where its clock stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The sender's Lamport clock: its future items carry larger timestamps.
    pub clock: u64,
    /// The last sequence number the sender has used.
    pub last_seq: u64,
    /// How many group operations the sender has ordered.
    pub epoch: u64,
    /// The sender has every item of every stream whose timestamp is at most this: a safe item
    /// is delivered once every daemon's frontier has passed it.
    pub frontier: u64,
    /// For each daemon of the view, by index: the sender has every item of its stream up to here.
    pub received: Vec<u64>,
}

/// A chunk of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// "I am `name`": sent to every configured daemon outside the sender's view, so daemons
    /// that start late, restart or come back from a partition find each other.
    Hello {
        /// The sender's daemon name.
        name: String,
        /// How many daemons the sender's configuration lists, itself included.
        cluster_size: u16,
        /// Which life of the daemon this is: a restarted daemon has a new incarnation.
        incarnation: u64,
        /// The sender's daemon view id (0 before it has one).
        view: u64,
    },
    /// A piece of a reliable stream (new or retransmitted).
    Data(DataChunk),
    /// An acknowledgement, also the heartbeat.
    Ack(Ack),
    /// "Please send me these items of `origin`'s stream": inclusive ranges.
    Nack {
        /// The stream.
        origin: u16,
        /// Missing sequence numbers, as inclusive ranges.
        ranges: Vec<(u64, u64)>,
    },
    /// One part of a membership message (see `viewchange`), which may span several datagrams.
    Control {
        /// Identifies the message among the sender's.
        msg: u64,
        /// This part's number, from 0.
        part: u16,
        /// How many parts the message has.
        parts: u16,
        /// The part's bytes.
        body: Bytes,
    },
}

/// Bytes a control chunk takes besides its body.
pub const CONTROL_CHUNK_OVERHEAD: usize = 1 + 8 + 2 + 2 + 4;

/// The fixed part of every datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The cluster's name.
    pub cluster: String,
    /// The sender's index in its view, or [`NO_INDEX`].
    pub sender: u16,
    /// The sender's view id (0 before it formed one).
    pub view: u64,
}

const CHUNK_HELLO: u8 = 1;
const CHUNK_DATA: u8 = 2;
const CHUNK_ACK: u8 = 3;
const CHUNK_NACK: u8 = 4;
const CHUNK_CONTROL: u8 = 5;

/// Builds datagrams of at most a given size, chunk by chunk.
#[derive(Debug)]
pub struct DatagramBuilder {
    buf: BytesMut,
    header_len: usize,
    max: usize,
}

impl DatagramBuilder {
    /// Starts a datagram with `header`, to be at most `max` bytes.
    pub fn new(header: &Header, max: usize) -> Self {
        Self::in_arena(BytesMut::new(), header, max)
    }

    /// Starts a datagram in the spare capacity of `arena` (allocating a larger block only when
    /// it runs low), so building many datagrams costs few allocations. Finish with
    /// [`DatagramBuilder::finish_in`] to get the arena back.
    pub fn in_arena(mut arena: BytesMut, header: &Header, max: usize) -> Self {
        arena.clear();
        if arena.capacity() < max {
            arena.reserve(max.max(ARENA_BLOCK));
        }
        let mut buf = arena;
        buf.put_slice(&MAGIC);
        buf.put_u8(WIRE_VERSION);
        let cluster = header.cluster.as_bytes();
        buf.put_u8(cluster.len().min(255) as u8);
        buf.put_slice(&cluster[..cluster.len().min(255)]);
        buf.put_u16(header.sender);
        buf.put_u64(header.view);
        let header_len = buf.len();
        DatagramBuilder {
            buf,
            header_len,
            max,
        }
    }

    /// Bytes left for chunks.
    pub fn room(&self) -> usize {
        self.max.saturating_sub(self.buf.len())
    }

    /// True if no chunk has been added.
    pub fn is_empty(&self) -> bool {
        self.buf.len() == self.header_len
    }

    /// Adds `chunk` if it fits; returns false (and adds nothing) if it does not.
    pub fn push(&mut self, chunk: &Chunk) -> bool {
        if encoded_len(chunk) > self.room() {
            return false;
        }
        encode_chunk(&mut self.buf, chunk);
        true
    }

    /// The finished datagram.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    /// The finished datagram, and the arena's remaining capacity for the next one.
    pub fn finish_in(mut self) -> (Bytes, BytesMut) {
        let datagram = self.buf.split().freeze();
        (datagram, self.buf)
    }
}

/// How many bytes `chunk` takes in a datagram.
pub fn encoded_len(chunk: &Chunk) -> usize {
    match chunk {
        Chunk::Hello { name, .. } => 1 + 1 + name.len().min(255) + 2 + 8 + 8,
        Chunk::Control { body, .. } => CONTROL_CHUNK_OVERHEAD + body.len(),
        Chunk::Data(d) => DATA_CHUNK_OVERHEAD + d.body.len(),
        Chunk::Ack(a) => 1 + 8 + 8 + 8 + 8 + 2 + 8 * a.received.len(),
        Chunk::Nack { ranges, .. } => 1 + 2 + 2 + 16 * ranges.len(),
    }
}

fn encode_chunk(buf: &mut BytesMut, chunk: &Chunk) {
    match chunk {
        Chunk::Hello {
            name,
            cluster_size,
            incarnation,
            view,
        } => {
            buf.put_u8(CHUNK_HELLO);
            let n = &name.as_bytes()[..name.len().min(255)];
            buf.put_u8(n.len() as u8);
            buf.put_slice(n);
            buf.put_u16(*cluster_size);
            buf.put_u64(*incarnation);
            buf.put_u64(*view);
        }
        Chunk::Control {
            msg,
            part,
            parts,
            body,
        } => {
            buf.put_u8(CHUNK_CONTROL);
            buf.put_u64(*msg);
            buf.put_u16(*part);
            buf.put_u16(*parts);
            buf.put_u32(body.len() as u32);
            buf.put_slice(body);
        }
        Chunk::Data(d) => {
            buf.put_u8(CHUNK_DATA);
            buf.put_u16(d.origin);
            buf.put_u64(d.seq);
            buf.put_u64(d.ts);
            buf.put_u64(d.epoch);
            buf.put_u8(d.frag.code());
            buf.put_u32(d.body.len() as u32);
            buf.put_slice(&d.body);
        }
        Chunk::Ack(a) => {
            buf.put_u8(CHUNK_ACK);
            buf.put_u64(a.clock);
            buf.put_u64(a.last_seq);
            buf.put_u64(a.epoch);
            buf.put_u64(a.frontier);
            buf.put_u16(a.received.len() as u16);
            for r in &a.received {
                buf.put_u64(*r);
            }
        }
        Chunk::Nack { origin, ranges } => {
            buf.put_u8(CHUNK_NACK);
            buf.put_u16(*origin);
            buf.put_u16(ranges.len() as u16);
            for (a, b) in ranges {
                buf.put_u64(*a);
                buf.put_u64(*b);
            }
        }
    }
}

/// Reads fields off a datagram, refusing to read past its end.
struct Reader {
    bytes: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.bytes.len() - self.pos < n {
            return Err(DecodeError::Truncated);
        }
        let out = self.bytes.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn string(&mut self, len: usize) -> Result<String, DecodeError> {
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid("text (not UTF-8)"))
    }

    fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Decodes a datagram's header, leaving the reader at the first chunk.
fn decode_header(r: &mut Reader) -> Result<Header, DecodeError> {
    let magic: [u8; 4] = r.array().map_err(|_| DecodeError::Foreign)?;
    if magic != MAGIC {
        return Err(DecodeError::Foreign);
    }
    let version = r.u8()?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version(version));
    }
    let clen = r.u8()? as usize;
    let cluster = r.string(clen)?;
    let sender = r.u16()?;
    let view = r.u64()?;
    Ok(Header {
        cluster,
        sender,
        view,
    })
}

/// Decodes a whole datagram. Data chunk bodies share `bytes`' memory.
pub fn decode(bytes: Bytes) -> Result<(Header, Vec<Chunk>), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let header = decode_header(&mut r)?;
    let mut chunks = Vec::new();
    while !r.is_done() {
        let kind = r.u8()?;
        let chunk = match kind {
            CHUNK_HELLO => {
                let len = r.u8()? as usize;
                let name = r.string(len)?;
                let cluster_size = r.u16()?;
                let incarnation = r.u64()?;
                let view = r.u64()?;
                Chunk::Hello {
                    name,
                    cluster_size,
                    incarnation,
                    view,
                }
            }
            CHUNK_CONTROL => {
                let msg = r.u64()?;
                let part = r.u16()?;
                let parts = r.u16()?;
                let len = r.u32()? as usize;
                let body = r.take(len)?;
                if parts == 0 || part >= parts {
                    return Err(DecodeError::Invalid("control part number"));
                }
                Chunk::Control {
                    msg,
                    part,
                    parts,
                    body,
                }
            }
            CHUNK_DATA => {
                let origin = r.u16()?;
                let seq = r.u64()?;
                let ts = r.u64()?;
                let epoch = r.u64()?;
                let frag = Frag::from_code(r.u8()?)?;
                let len = r.u32()? as usize;
                let body = r.take(len)?;
                if seq == 0 {
                    return Err(DecodeError::Invalid("sequence number 0"));
                }
                Chunk::Data(DataChunk {
                    origin,
                    seq,
                    ts,
                    epoch,
                    frag,
                    body,
                })
            }
            CHUNK_ACK => {
                let clock = r.u64()?;
                let last_seq = r.u64()?;
                let epoch = r.u64()?;
                let frontier = r.u64()?;
                let n = r.u16()? as usize;
                if n * 8 > r.left() {
                    return Err(DecodeError::Truncated);
                }
                let received = (0..n).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
                Chunk::Ack(Ack {
                    clock,
                    last_seq,
                    epoch,
                    frontier,
                    received,
                })
            }
            CHUNK_NACK => {
                let origin = r.u16()?;
                let n = r.u16()? as usize;
                if n * 16 > r.left() {
                    return Err(DecodeError::Truncated);
                }
                let mut ranges = Vec::with_capacity(n);
                for _ in 0..n {
                    let a = r.u64()?;
                    let b = r.u64()?;
                    if a == 0 || b < a {
                        return Err(DecodeError::Invalid("NACK range"));
                    }
                    ranges.push((a, b));
                }
                Chunk::Nack { origin, ranges }
            }
            _ => return Err(DecodeError::Invalid("chunk kind")),
        };
        chunks.push(chunk);
    }
    Ok((header, chunks))
}

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
        /// The message as receivers get it: a whole client frame (length prefix included),
        /// encoded once by the origin daemon and handed to every receiving client unchanged.
        frame: Bytes,
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
        let frame = Bytes::from(gcs::wire::encode_response_frame(
            &gcs::wire::Response::Message(gcs::Message {
                groups: groups.clone(),
                sender: sender.clone(),
                order,
                payload,
            }),
        ));
        Item::Multicast {
            order,
            groups,
            sender,
            frame,
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
            frame,
        } => {
            buf.reserve(
                16 + sender.len() + groups.iter().map(|g| g.len() + 2).sum::<usize>() + frame.len(),
            );
            buf.put_u8(ITEM_MULTICAST);
            buf.put_u8(order_code(*order));
            put_str16(&mut buf, sender);
            buf.put_u16(groups.len().min(u16::MAX as usize) as u16);
            for g in groups.iter().take(u16::MAX as usize) {
                put_str16(&mut buf, g);
            }
            buf.put_slice(frame);
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

/// Decodes an item. The payload of a multicast shares `bytes`' memory.
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
            let frame = r.take(r.left())?;
            // The frame goes to clients as it is: it must at least be a frame of its own length.
            let announced = frame
                .get(..4)
                .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
            if announced != Some(frame.len().saturating_sub(4)) {
                return Err(DecodeError::Invalid("message frame length"));
            }
            Item::Multicast {
                order,
                groups,
                sender,
                frame,
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            cluster: "gcs".into(),
            sender: 2,
            view: 7,
        }
    }

    #[test]
    fn datagrams_round_trip() {
        let chunks = vec![
            Chunk::Hello {
                name: "d1".into(),
                cluster_size: 3,
                incarnation: 77,
                view: 4,
            },
            Chunk::Control {
                msg: 3,
                part: 1,
                parts: 2,
                body: Bytes::from_static(b"xyz"),
            },
            Chunk::Ack(Ack {
                clock: 9,
                last_seq: 4,
                epoch: 1,
                frontier: 8,
                received: vec![1, 2, 3],
            }),
            Chunk::Data(DataChunk {
                origin: 1,
                seq: 5,
                ts: 10,
                epoch: 1,
                frag: Frag::Last,
                body: Bytes::from_static(b"abc"),
            }),
            Chunk::Nack {
                origin: 0,
                ranges: vec![(1, 3), (7, 7)],
            },
        ];
        let mut b = DatagramBuilder::new(&header(), 1472);
        for c in &chunks {
            assert!(b.push(c));
        }
        let bytes = b.finish();
        let (h, got) = decode(bytes).unwrap();
        assert_eq!(h, header());
        assert_eq!(got, chunks);
    }

    #[test]
    fn the_builder_refuses_what_does_not_fit() {
        let mut b = DatagramBuilder::new(&header(), 100);
        let big = Chunk::Data(DataChunk {
            origin: 0,
            seq: 1,
            ts: 1,
            epoch: 0,
            frag: Frag::Whole,
            body: Bytes::from(vec![0u8; 200]),
        });
        assert!(!b.push(&big));
        assert!(b.is_empty());
    }

    #[test]
    fn items_round_trip() {
        let items = [
            Item::multicast(
                Order::Safe,
                vec!["a".into(), "b".into()],
                "x#d".into(),
                Bytes::from_static(b"\x00\x01"),
            ),
            Item::Join {
                group: "g".into(),
                member: "y#d".into(),
            },
            Item::Leave {
                group: "g".into(),
                member: "y#d".into(),
                reason: Reason::Disconnect,
            },
        ];
        for i in items {
            assert_eq!(decode_item(encode_item(&i)).unwrap(), i);
        }
    }

    #[test]
    fn foreign_and_other_versions_are_recognised() {
        assert_eq!(
            decode(Bytes::from_static(b"GET / HTTP/1.1")),
            Err(DecodeError::Foreign)
        );
        let mut v = DatagramBuilder::new(&header(), 100).finish().to_vec();
        v[4] = 9;
        assert_eq!(decode(Bytes::from(v)), Err(DecodeError::Version(9)));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(Bytes::from(bytes.clone()));
            let _ = decode_item(Bytes::from(bytes));
        }

        #[test]
        fn decoding_arbitrary_chunks_after_a_good_header_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut v = DatagramBuilder::new(&header(), 100).finish().to_vec();
            v.extend_from_slice(&tail);
            let _ = decode(Bytes::from(v));
        }

        #[test]
        fn every_truncation_of_a_good_datagram_is_an_error(cut in 0usize..80) {
            let mut b = DatagramBuilder::new(&header(), 1472);
            b.push(&Chunk::Ack(Ack { clock: 1, last_seq: 2, epoch: 0, frontier: 1, received: vec![5, 6] }));
            let full = b.finish();
            if cut < full.len() {
                let r = decode(full.slice(..cut));
                // A cut exactly at a chunk boundary is a valid shorter datagram.
                prop_assert!(r.is_err() || cut == 4 + 1 + 1 + 3 + 2 + 8);
            }
        }
    }
}
