//! The datagram seal: every datagram between daemons encrypted and authenticated with the
//! cluster key, so a host without the key can neither read the traffic nor inject, alter or
//! replay a single datagram.
//!
//! Each life of a daemon picks a random 16-byte life id at start and derives its own sealing key
//! from the cluster key, that id and its address (HKDF-SHA256), so a datagram opens only as coming
//! from the address that sealed it; datagrams are sealed with AES-256-GCM under
//! that key, with a counter as the nonce. A new life means a new key, so nonces never repeat,
//! across restarts and clock steps alike. The cleartext header (magic, version, key id, life id,
//! counter) is authenticated as associated data. The receiver keeps a sliding replay window per
//! peer life. A daemon may hold a second key that it accepts but does not send with, so the key
//! can be changed without stopping the cluster.
//!
//! Owns the keys, the nonces and the replay state. It never touches a socket, a clock or a file,
//! and draws no random number: the driver hands it the life id, and opens what arrives before the
//! core sees any of it.

use bytes::{BufMut, Bytes, BytesMut};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hkdf;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;

/// Bytes of a cluster key.
pub const KEY_LEN: usize = 32;
/// Bytes of a life id.
pub const LIFE_LEN: usize = 16;

const MAGIC: [u8; 4] = *b"GCSA";
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
/// magic, version, key id, life id, counter.
const HEADER_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN + LIFE_LEN + 8;
const TAG_LEN: usize = 16;
/// Bytes a sealed datagram has beyond the datagram it carries.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// How many counters behind the newest a datagram may arrive and still be taken (once).
const WINDOW: u64 = 1024;
/// Lives remembered per peer address: a restarted peer's old life is forgotten after a few more.
const LIVES_PER_PEER: usize = 4;

const INFO: &[u8] = b"gcs datagram seal v1";

/// A cluster key: 32 secret bytes every daemon of a cluster shares.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; KEY_LEN]);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey({})", hex(&self.id()))
    }
}

/// Why a key file's text is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hexadecimal digits.
    #[error("a cluster key is 64 hexadecimal digits (as `gcsd keygen` writes it); this has {0} characters")]
    Length(usize),
    /// A character that is not a hexadecimal digit.
    #[error("a cluster key is hexadecimal digits only; found '{0}'")]
    Digit(char),
}

impl ClusterKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> ClusterKey {
        ClusterKey(bytes)
    }

    /// The key written as text: 64 hexadecimal digits, white space around them ignored.
    pub fn from_text(text: &str) -> Result<ClusterKey, KeyError> {
        let text = text.trim();
        if text.len() != 2 * KEY_LEN {
            return Err(KeyError::Length(text.chars().count()));
        }
        let mut key = [0u8; KEY_LEN];
        let digits: Vec<char> = text.chars().collect();
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = pair[0].to_digit(16).ok_or(KeyError::Digit(pair[0]))?;
            let lo = pair[1].to_digit(16).ok_or(KeyError::Digit(pair[1]))?;
            key[i] = (hi * 16 + lo) as u8;
        }
        Ok(ClusterKey(key))
    }

    /// The key as text, as a key file holds it.
    pub fn to_text(&self) -> String {
        hex(&self.0)
    }

    /// A short public name of the key (not secret): which key sealed a datagram.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"gcs key id ", &self.0[..]].concat(),
        );
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        id
    }

    /// The key the life `life` of the daemon at `addr` seals with.
    fn life_key(&self, life: &[u8; LIFE_LEN], addr: SocketAddr) -> LessSafeKey {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, life);
        let prk = salt.extract(&self.0);
        let addr = addr.to_string();
        let mut bytes = [0u8; KEY_LEN];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 blocks).
        if let Ok(okm) = prk.expand(&[INFO, addr.as_bytes()], &AES_256_GCM) {
            let _ = okm.fill(&mut bytes);
        }
        // A 32-byte key is what AES-256-GCM takes, so this cannot fail either.
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM takes 32-byte keys"));
        LessSafeKey::new(unbound)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an arriving datagram was not opened. Nothing of it reached the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    /// Not a sealed datagram: a daemon without the key, or not gcs at all.
    #[error("it is not sealed (is the sending daemon configured with the cluster key?)")]
    NotSealed,
    /// Sealed with a key this daemon does not hold.
    #[error("it is sealed with key {0}, which this daemon does not hold (auth.key_file, auth.next_key_file)")]
    UnknownKey(String),
    /// Its authentication tag does not match: altered, truncated or forged.
    #[error("it fails authentication: altered, forged, or sealed with another key of the same id")]
    Forged,
    /// A datagram of this life and counter was already taken, or is too old to tell.
    #[error("it is a replay (or arrived more than {WINDOW} datagrams late)")]
    Replayed,
    /// From an address that is not a configured peer.
    #[error("the sender is not a configured peer")]
    Stranger,
}

/// Which counters of one peer life were taken: the newest, and a bit per counter behind it.
#[derive(Debug, Default)]
struct ReplayWindow {
    /// The newest counter taken, plus one (0: none yet).
    top: u64,
    /// Bit i: counter `top - 1 - i` was taken.
    seen: [u64; (WINDOW / 64) as usize],
}

impl ReplayWindow {
    /// True if `counter` would be new.
    fn is_new(&self, counter: u64) -> bool {
        if counter >= self.top {
            return true;
        }
        let behind = self.top - 1 - counter;
        behind < WINDOW && self.seen[(behind / 64) as usize] & (1 << (behind % 64)) == 0
    }

    /// Marks `counter` taken (after `is_new` said it is new and it authenticated).
    fn take(&mut self, counter: u64) {
        if counter >= self.top {
            let shift = counter + 1 - self.top;
            self.shift(shift);
            self.top = counter + 1;
        }
        let behind = self.top - 1 - counter;
        self.seen[(behind / 64) as usize] |= 1 << (behind % 64);
    }

    /// Moves every bit `by` counters further behind.
    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; (WINDOW / 64) as usize];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        let n = self.seen.len();
        for i in (0..n).rev() {
            let from = i.checked_sub(words);
            let mut v = from.map_or(0, |f| self.seen[f] << bits);
            if bits > 0 {
                if let Some(lower) = from.and_then(|f| f.checked_sub(1)) {
                    v |= self.seen[lower] >> (64 - bits);
                }
            }
            self.seen[i] = v;
        }
    }
}

/// What this daemon knows of one peer life.
struct PeerLife {
    key: LessSafeKey,
    window: ReplayWindow,
    /// When it was last used, in opens: the least recent life of a peer is forgotten first.
    used: u64,
}

/// One daemon's seal: its life's sealing key and counter, and the peer lives it has opened.
pub struct Seal {
    primary: ClusterKey,
    primary_id: [u8; KEY_ID_LEN],
    next: Option<(ClusterKey, [u8; KEY_ID_LEN])>,
    life: [u8; LIFE_LEN],
    sealing: LessSafeKey,
    counter: u64,
    peers: BTreeSet<SocketAddr>,
    lives: BTreeMap<(SocketAddr, [u8; LIFE_LEN], [u8; KEY_ID_LEN]), PeerLife>,
    opens: u64,
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seal")
            .field("primary", &self.primary)
            .field("next", &self.next.as_ref().map(|(k, _)| k))
            .field("counter", &self.counter)
            .field("lives", &self.lives.len())
            .finish()
    }
}

impl Seal {
    /// The seal of the life `life` of the daemon at `me` that sends with `primary`, also accepts
    /// `next`, and takes datagrams only from `peers`.
    pub fn new(
        primary: ClusterKey,
        next: Option<ClusterKey>,
        life: [u8; LIFE_LEN],
        me: SocketAddr,
        peers: impl IntoIterator<Item = SocketAddr>,
    ) -> Seal {
        Seal {
            primary_id: primary.id(),
            sealing: primary.life_key(&life, me),
            next: next.map(|k| {
                let id = k.id();
                (k, id)
            }),
            primary,
            life,
            counter: 0,
            peers: peers.into_iter().collect(),
            lives: BTreeMap::new(),
            opens: 0,
        }
    }

    /// Seals `datagram` for the peers.
    pub fn seal(&mut self, datagram: &[u8]) -> Bytes {
        let counter = self.counter;
        self.counter += 1;
        let mut out = BytesMut::with_capacity(datagram.len() + OVERHEAD);
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        out.put_slice(&self.primary_id);
        out.put_slice(&self.life);
        out.put_u64(counter);
        out.put_slice(datagram);
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let tag =
            self.sealing
                .seal_in_place_separate_tag(nonce(counter), Aad::from(&*header), body);
        // Sealing fails only for inputs beyond 2^36 bytes, far above any datagram.
        if let Ok(tag) = tag {
            out.put_slice(tag.as_ref());
        }
        out.freeze()
    }

    /// Opens `sealed` from `from`: the datagram it carries, if it is authentic and new. It is
    /// decrypted where it lies; the datagram returned shares its memory.
    pub fn open(&mut self, from: SocketAddr, mut sealed: BytesMut) -> Result<Bytes, Unsealed> {
        if sealed.len() < OVERHEAD || sealed[..4] != MAGIC || sealed[4] != VERSION {
            return Err(Unsealed::NotSealed);
        }
        if !self.peers.contains(&from) {
            return Err(Unsealed::Stranger);
        }
        let field = |at: usize, len: usize| &sealed[at..at + len];
        let key_id: [u8; KEY_ID_LEN] = field(5, KEY_ID_LEN).try_into().unwrap_or_default();
        let life: [u8; LIFE_LEN] = field(5 + KEY_ID_LEN, LIFE_LEN)
            .try_into()
            .unwrap_or_default();
        let counter = u64::from_be_bytes(field(HEADER_LEN - 8, 8).try_into().unwrap_or_default());
        let slot = (from, life, key_id);
        // A life seen before opens with its key and must be new to its window; a first datagram
        // of a life derives the key, which is kept only if the datagram proves authentic.
        let fresh = match self.lives.get(&slot) {
            Some(known) if !known.window.is_new(counter) => return Err(Unsealed::Replayed),
            Some(_) => None,
            None => Some(self.key_of(key_id)?.life_key(&life, from)),
        };
        let mut body = sealed.split_off(HEADER_LEN);
        let key = match (&fresh, self.lives.get(&slot)) {
            (Some(k), _) => k,
            (None, Some(known)) => &known.key,
            (None, None) => return Err(Unsealed::Forged),
        };
        let len = key
            .open_in_place(nonce(counter), Aad::from(&sealed[..]), &mut body)
            .map_err(|_| Unsealed::Forged)?
            .len();
        body.truncate(len);
        // Authentic: only now does it change any state.
        self.opens += 1;
        if let Some(key) = fresh {
            self.forget_old_lives(from);
            self.lives.insert(
                slot,
                PeerLife {
                    key,
                    window: ReplayWindow::default(),
                    used: 0,
                },
            );
        }
        if let Some(known) = self.lives.get_mut(&slot) {
            known.window.take(counter);
            known.used = self.opens;
        }
        Ok(body.freeze())
    }

    /// The key with id `id`: the primary or the next one.
    fn key_of(&self, id: [u8; KEY_ID_LEN]) -> Result<&ClusterKey, Unsealed> {
        if id == self.primary_id {
            return Ok(&self.primary);
        }
        match &self.next {
            Some((k, next)) if *next == id => Ok(k),
            _ => Err(Unsealed::UnknownKey(hex(&id))),
        }
    }

    /// Makes room for one more life of `addr`.
    fn forget_old_lives(&mut self, addr: SocketAddr) {
        let of_addr: Vec<_> = self
            .lives
            .iter()
            .filter(|((a, ..), _)| *a == addr)
            .map(|(k, v)| (v.used, *k))
            .collect();
        if of_addr.len() < LIVES_PER_PEER {
            return;
        }
        if let Some((_, oldest)) = of_addr.into_iter().min() {
            self.lives.remove(&oldest);
        }
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 4804))
    }

    fn key(b: u8) -> ClusterKey {
        ClusterKey::from_bytes([b; KEY_LEN])
    }

    fn pair(k: u8) -> (Seal, Seal) {
        (
            Seal::new(key(k), None, [1; LIFE_LEN], addr(1), [addr(2)]),
            Seal::new(key(k), None, [2; LIFE_LEN], addr(2), [addr(1), addr(3)]),
        )
    }

    #[test]
    fn a_sealed_datagram_opens_once_and_only_from_a_peer() {
        let (mut a, mut b) = pair(7);
        let sealed = a.seal(b"hello");
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        assert!(!sealed.windows(5).any(|w| w == b"hello"), "sent in clear");
        assert_eq!(
            b.open(addr(1), BytesMut::from(&sealed[..])).unwrap(),
            Bytes::from_static(b"hello")
        );
        assert_eq!(
            b.open(addr(1), BytesMut::from(&sealed[..])),
            Err(Unsealed::Replayed)
        );
        assert_eq!(
            b.open(addr(9), BytesMut::from(&a.seal(b"x")[..])),
            Err(Unsealed::Stranger)
        );
        // From another peer's address it is not authentic: a key holder cannot pass its
        // datagrams off as another daemon's by replaying them.
        assert_eq!(
            b.open(addr(3), BytesMut::from(&a.seal(b"x")[..])),
            Err(Unsealed::Forged)
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let (mut a, mut b) = pair(7);
        let sealed = a.seal(b"some datagram");
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.to_vec();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                b.open(addr(1), BytesMut::from(&bad[..])).is_err(),
                "bit {i} flipped was taken"
            );
        }
        assert!(
            b.open(addr(1), BytesMut::from(&sealed[..])).is_ok(),
            "the original is refused"
        );
    }

    #[test]
    fn another_key_and_plain_datagrams_are_refused() {
        let mut a = Seal::new(key(1), None, [1; LIFE_LEN], addr(1), [addr(2)]);
        let mut b = Seal::new(key(2), None, [2; LIFE_LEN], addr(2), [addr(1)]);
        assert!(matches!(
            b.open(addr(1), BytesMut::from(&a.seal(b"x")[..])),
            Err(Unsealed::UnknownKey(_))
        ));
        assert_eq!(
            b.open(addr(1), BytesMut::from(&b"GCS\x03 plain"[..])),
            Err(Unsealed::NotSealed)
        );
    }

    #[test]
    fn the_next_key_is_accepted_while_the_primary_seals() {
        let mut old = Seal::new(key(1), None, [1; LIFE_LEN], addr(1), [addr(2)]);
        let mut new = Seal::new(key(2), None, [3; LIFE_LEN], addr(1), [addr(2)]);
        let mut b = Seal::new(key(1), Some(key(2)), [2; LIFE_LEN], addr(2), [addr(1)]);
        assert!(b.open(addr(1), BytesMut::from(&old.seal(b"x")[..])).is_ok());
        assert!(b.open(addr(1), BytesMut::from(&new.seal(b"y")[..])).is_ok());
        assert_eq!(b.seal(b"z").get(5..9), Some(&key(1).id()[..]));
    }

    #[test]
    fn late_datagrams_within_the_window_are_taken_once() {
        let (mut a, mut b) = pair(7);
        let sealed: Vec<Bytes> = (0..3000)
            .map(|i| a.seal(format!("{i}").as_bytes()))
            .collect();
        // Newest first, then the older ones: those within the window open, once each.
        assert!(b.open(addr(1), BytesMut::from(&sealed[2999][..])).is_ok());
        for (i, s) in sealed.iter().enumerate().take(2999).rev() {
            let behind = 2999 - i as u64;
            assert_eq!(
                b.open(addr(1), BytesMut::from(&s[..])).is_ok(),
                behind < WINDOW,
                "datagram {i}"
            );
        }
        for s in &sealed {
            assert!(b.open(addr(1), BytesMut::from(&s[..])).is_err());
        }
    }

    #[test]
    fn a_new_life_starts_a_new_window_and_old_lives_are_forgotten() {
        let mut b = Seal::new(key(7), None, [0; LIFE_LEN], addr(2), [addr(1)]);
        for life in 1..=10u8 {
            let mut a = Seal::new(key(7), None, [life; LIFE_LEN], addr(1), [addr(2)]);
            assert!(
                b.open(addr(1), BytesMut::from(&a.seal(b"x")[..])).is_ok(),
                "life {life}"
            );
        }
        assert_eq!(b.lives.len(), LIVES_PER_PEER);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let (_, mut b) = pair(7);
            let mut framed = b"GCSA\x01".to_vec();
            framed.extend_from_slice(&key(7).id());
            framed.extend_from_slice(&bytes);
            proptest::prop_assert!(b.open(addr(1), BytesMut::from(&bytes[..])).is_err());
            proptest::prop_assert!(b.open(addr(1), BytesMut::from(&framed[..])).is_err());
        }
    }

    #[test]
    fn keys_round_trip_as_text_and_bad_text_is_explained() {
        let k = key(0xab);
        assert_eq!(ClusterKey::from_text(&format!(" {}\n", k.to_text())), Ok(k));
        assert_eq!(ClusterKey::from_text("abc"), Err(KeyError::Length(3)));
        let bad = "g".repeat(64);
        assert_eq!(ClusterKey::from_text(&bad), Err(KeyError::Digit('g')));
    }
}
