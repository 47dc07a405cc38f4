//! A client's outgoing queue: frames waiting for the client to read them.
//!
//! Owns the per-client memory bound and the bound on all clients' queues together
//! ([`SharedBudget`]). The core task pushes without ever waiting; a push past either limit empties
//! the queue and reports the overflow, so a client that stops reading costs at most the limit,
//! all of them together at most the shared one, and nobody else is slowed. The writer task takes
//! frames in batches.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The queue is over its limit; it has been emptied and accepts only the closing frame now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

#[derive(Debug, Default)]
struct Inner {
    frames: VecDeque<Bytes>,
    bytes: usize,
    closed: bool,
    /// Set by an overflow: later frames are dropped, so the client never sees a hole followed by
    /// more messages, only the closing frame.
    overflowed: bool,
}

/// The bytes every client's queue holds together, and the most they may.
#[derive(Debug)]
pub struct SharedBudget {
    used: AtomicUsize,
    limit: usize,
}

impl SharedBudget {
    /// A budget of `limit` bytes for all queues together.
    pub fn new(limit: usize) -> Arc<SharedBudget> {
        Arc::new(SharedBudget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whatever the limit (a closing frame).
    fn force(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// Bytes all queues hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Frames for one client, bounded in bytes.
#[derive(Debug)]
pub struct OutQueue {
    inner: Mutex<Inner>,
    ready: Notify,
    limit: usize,
    shared: Arc<SharedBudget>,
}

impl Drop for OutQueue {
    fn drop(&mut self) {
        // Frames never written (the connection broke) leave the shared budget with the queue.
        let left = self.lock().bytes;
        self.shared.give_back(left);
    }
}

impl OutQueue {
    /// An empty queue holding at most `limit` bytes, and with every other queue of `shared` at
    /// most its limit.
    pub fn new(limit: usize, shared: Arc<SharedBudget>) -> Self {
        OutQueue {
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            limit,
            shared,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent (every update is a
        // single push or swap), so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a frame. Past the limit the queue is emptied and `Overflow` returned.
    pub fn push(&self, frame: Bytes) -> Result<(), Overflow> {
        let mut q = self.lock();
        if q.closed {
            return Ok(());
        }
        if q.overflowed {
            return Err(Overflow);
        }
        if q.bytes + frame.len() > self.limit || !self.shared.take(frame.len()) {
            q.frames.clear();
            self.shared.give_back(q.bytes);
            q.bytes = 0;
            q.overflowed = true;
            return Err(Overflow);
        }
        q.bytes += frame.len();
        q.frames.push_back(frame);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Closes the queue: `last`, if given, is the final frame (accepted whatever the limit); the
    /// writer ends once everything queued is written.
    pub fn close(&self, last: Option<Bytes>) {
        let mut q = self.lock();
        if q.closed {
            return;
        }
        q.closed = true;
        if let Some(f) = last {
            self.shared.force(f.len());
            q.bytes += f.len();
            q.frames.push_back(f);
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Waits for frames and moves all of them into `batch`. Returns false once the queue is closed
    /// and empty.
    pub async fn take(&self, batch: &mut Vec<Bytes>) -> bool {
        loop {
            {
                let mut q = self.lock();
                if !q.frames.is_empty() {
                    batch.extend(q.frames.drain(..));
                    self.shared.give_back(q.bytes);
                    q.bytes = 0;
                    return true;
                }
                if q.closed {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_empties_and_close_delivers_last_frame() {
        let q = OutQueue::new(10, SharedBudget::new(usize::MAX));
        q.push(Bytes::from_static(b"12345")).unwrap();
        q.push(Bytes::from_static(b"12345")).unwrap();
        assert_eq!(q.push(Bytes::from_static(b"x")), Err(Overflow));
        assert_eq!(q.queued_bytes(), 0);
        // Nothing more gets in after an overflow, however small.
        assert_eq!(q.push(Bytes::from_static(b"y")), Err(Overflow));
        assert_eq!(q.queued_bytes(), 0);
        q.close(Some(Bytes::from_static(b"bye-bye-bye-bye")));
        q.push(Bytes::from_static(b"ignored")).unwrap();
        let mut batch = Vec::new();
        assert!(q.take(&mut batch).await);
        assert_eq!(batch, vec![Bytes::from_static(b"bye-bye-bye-bye")]);
        batch.clear();
        assert!(!q.take(&mut batch).await);
    }

    #[tokio::test]
    async fn all_queues_together_stay_within_the_shared_budget() {
        let shared = SharedBudget::new(25);
        let a = OutQueue::new(20, shared.clone());
        let b = OutQueue::new(20, shared.clone());
        assert!(a.push(Bytes::from(vec![0; 15])).is_ok());
        // b alone is within its own limit, but not with a's bytes.
        assert_eq!(b.push(Bytes::from(vec![0; 15])), Err(Overflow));
        assert_eq!(shared.used(), 15);
        let mut batch = Vec::new();
        assert!(a.take(&mut batch).await);
        assert_eq!(shared.used(), 0);
        assert!(a.push(Bytes::from(vec![0; 10])).is_ok());
        drop(a);
        assert_eq!(shared.used(), 0, "a dropped queue gives its bytes back");
    }
}
