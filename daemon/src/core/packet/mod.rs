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

mod item;
#[cfg(test)]
mod tests;

pub use item::{decode_item, encode_item, Item};

use bytes::{BufMut, Bytes, BytesMut};

/// First bytes of every gcs datagram.
pub const MAGIC: [u8; 4] = *b"GCSD";

/// The format version this daemon speaks; datagrams of another version are dropped.
pub const WIRE_VERSION: u8 = 4;

/// The sender index a datagram carries before its sender has formed a view.
pub const NO_INDEX: u16 = u16::MAX;

/// How much an arena grows by when it runs low (see [`DatagramBuilder::in_arena`]).
const ARENA_BLOCK: usize = 256 * 1024;

/// Bytes a data chunk takes besides its body.
pub const DATA_CHUNK_OVERHEAD: usize = 1 + 2 + 8 + 8 + 8 + 1 + 4;

/// Bytes a datagram header takes for a cluster name of `cluster_len` bytes.
pub fn header_len(cluster_len: usize) -> usize {
    4 + 1 + 1 + cluster_len.min(255) + 2 + 8
}

/// Bytes an acknowledgement takes in a view of `n` daemons.
pub fn ack_len(n: usize) -> usize {
    1 + 8 + 8 + 8 + 8 + 2 + 8 * n
}

/// The largest chunk body that fits in a datagram of `max_datagram` bytes beside the header and an
/// acknowledgement, for a view of `n` daemons.
pub fn max_chunk_body(max_datagram: usize, cluster_len: usize, n: usize) -> usize {
    max_datagram
        .saturating_sub(header_len(cluster_len) + ack_len(n) + DATA_CHUNK_OVERHEAD)
        .max(1)
}

/// The largest control chunk body that fits in a datagram of `max_datagram` bytes beside the
/// header.
pub fn max_control_body(max_datagram: usize, cluster_len: usize) -> usize {
    max_datagram
        .saturating_sub(header_len(cluster_len))
        .saturating_sub(CONTROL_CHUNK_OVERHEAD)
}

/// The largest item a daemon takes from a message of `max_message` bytes: the request's frame
/// limit bounds the payload plus the group names; an item holds them once, with its own framing
/// (two length bytes a name, which may be more than the request's), so the bound leaves twice
/// the room. Every daemon of a cluster should use the same `limits.max_message_size`, or one may
/// refuse to reassemble another's items.
pub fn max_item(max_message: usize) -> usize {
    2 * (max_message + gcs::wire::FRAME_HEADROOM) + 1024
}

/// Why a datagram could not be decoded. Decoding touches no state, so none of these changed
/// anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It does not start with [`MAGIC`]: not a gcs datagram (another program on the port).
    #[error("not a gcs datagram")]
    Foreign,
    /// Another format version: a daemon of another software version.
    #[error("wire format version {0}, this daemon speaks {WIRE_VERSION}")]
    Version(u8),
    /// It ends before a field it announces: junk, or cut short on its way.
    #[error("truncated")]
    Truncated,
    /// A field holds a value that is not allowed: junk, or a sender's bug.
    #[error("invalid {0}")]
    Invalid(&'static str),
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
    /// One part of a membership message (see `membership`), which may span several datagrams.
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
pub(super) struct Reader {
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
