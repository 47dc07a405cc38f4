//! The formed cluster: the view with its streams and orderer, and the way of an item into this
//! daemon's stream and out of the orderer.
//!
//! Owns `Cluster` and the backlog of items made while no view could take them. An item is
//! stamped (order), split into chunks (reliable) queued for every peer (transmit), and handed to
//! this daemon's own orderer; what the orderer releases goes to the client side (`apply`). It
//! never takes datagrams apart (ingress) nor decides the membership.

use super::packet::{max_chunk_body, Item};
use super::reliable::Received;
use super::{Core, FormedView, Orderer, Streams};
use std::collections::VecDeque;

/// The formed cluster: the view and the layers that need it.
#[derive(Debug)]
pub(super) struct Cluster {
    pub(super) view: FormedView,
    pub(super) streams: Streams,
    pub(super) orderer: Orderer,
}

/// Items made while no view could take them (none formed yet, or a view change under way), in
/// order, and their bytes (which count against the send window).
#[derive(Debug, Default)]
pub(super) struct Backlog {
    pub(super) items: VecDeque<Item>,
    pub(super) bytes: usize,
}

impl Core {
    /// Hands an item to this daemon's stream, or keeps it until the view forms.
    pub(super) fn submit(&mut self, item: Item) {
        if self.cluster.is_none() || self.view_change.is_running() {
            self.backlog.bytes += item_bytes(&item);
            self.backlog.items.push_back(item);
            return;
        }
        self.stamp_and_send(item);
    }

    pub(super) fn stamp_and_send(&mut self, item: Item) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let n = c.view.len();
        let max_body = max_chunk_body(self.config.max_datagram, self.config.cluster.len(), n);
        let (ts, epoch) = c.orderer.stamp();
        let chunks = c.streams.send(ts, epoch, &item, max_body);
        let seq = chunks.last().map_or(0, |ch| ch.seq);
        if n > 1 {
            self.tx.outgoing.extend(chunks);
        } else {
            // Alone in the view, this daemon's own copy makes every item stable at once.
            c.streams.collect_garbage();
        }
        let mut out = Vec::new();
        let me = c.view.me;
        c.orderer.push(
            Received {
                origin: me,
                seq,
                ts,
                epoch,
                item,
            },
            &mut out,
        );
        for d in out {
            self.apply(d);
        }
    }

    /// Delivers every totally ordered item that has become deliverable.
    pub(super) fn deliver_ready(&mut self) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let before = c.orderer.epoch();
        let mut out = Vec::new();
        c.orderer.advance(&c.streams, &mut out);
        if c.orderer.epoch() != before && c.view.len() > 1 {
            // Other daemons wait to hear that this one moved to the new epoch.
            self.tx.ack_due = true;
        }
        for d in out {
            self.apply(d);
        }
    }
}

/// Roughly how many bytes an item takes, for the send window.
fn item_bytes(item: &Item) -> usize {
    match item {
        Item::Multicast {
            groups,
            sender,
            frame,
            ..
        } => frame.len() + sender.len() + groups.iter().map(String::len).sum::<usize>() + 8,
        Item::Join { group, member } | Item::Leave { group, member, .. } => {
            group.len() + member.len() + 8
        }
    }
}
