//! The view change's rounds by hand: three daemon cores on a network the test controls, where it
//! can kill a daemon at a chosen moment of the protocol or lose a chosen membership message.

use bytes::Bytes;
use gcsd::core::packet::{self, Chunk};
use gcsd::core::{Control, Core, CoreConfig, Output, Time};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 30, i as u8 + 1], 4804))
}

/// The membership messages a datagram carries (those sent in one part).
fn controls(bytes: &Bytes) -> Vec<Control> {
    let Ok((_, chunks)) = packet::decode(bytes.clone()) else {
        return Vec::new();
    };
    chunks
        .into_iter()
        .filter_map(|c| match c {
            Chunk::Control { parts: 1, body, .. } => rmp_serde::from_slice(&body).ok(),
            _ => None,
        })
        .collect()
}

/// What the network does with a datagram from one daemon to another.
enum Fate {
    Deliver,
    Lose,
    /// Lose it and kill the sender on the spot.
    KillSender,
}

struct Net {
    cores: Vec<Core>,
    alive: Vec<bool>,
    flight: VecDeque<(usize, usize, Bytes)>,
    now: Time,
}

impl Net {
    /// `n` daemons that have formed their first view together.
    fn new(n: usize) -> Net {
        let cores = (0..n)
            .map(|i| {
                Core::new(
                    CoreConfig {
                        listen: addr(i),
                        peers: (0..n).filter(|j| *j != i).map(addr).collect(),
                        incarnation: 1_000 + i as u64,
                        ..CoreConfig::single(&format!("d{i}"))
                    },
                    Time(0),
                )
            })
            .collect();
        let mut net = Net {
            cores,
            alive: vec![true; n],
            flight: VecDeque::new(),
            now: Time(0),
        };
        net.run(Duration::from_secs(2), &mut |_, _, _| Fate::Deliver);
        for i in 0..n {
            assert_eq!(net.view(i).members.len(), n, "the cluster did not form");
        }
        net
    }

    /// Daemon `i` starts again: a new life, knowing nothing.
    fn restart(&mut self, i: usize) {
        let n = self.cores.len();
        self.cores[i] = Core::new(
            CoreConfig {
                listen: addr(i),
                peers: (0..n).filter(|j| *j != i).map(addr).collect(),
                incarnation: 1_000_000 + self.now.as_micros(),
                ..CoreConfig::single(&format!("d{i}"))
            },
            self.now,
        );
        self.alive[i] = true;
    }

    fn view(&self, i: usize) -> gcs::DaemonView {
        self.cores[i].daemon_view()
    }

    fn collect(&mut self, i: usize) {
        while let Some(out) = self.cores[i].poll_output() {
            if let Output::Transmit { to, bytes } = out {
                for dest in to {
                    if let Some(j) = (0..self.cores.len()).find(|j| addr(*j) == dest) {
                        self.flight.push_back((i, j, bytes.clone()));
                    }
                }
            }
        }
    }

    /// Runs for `time`: datagrams in flight first, then timers in 1 ms steps; `fate` decides
    /// each datagram's fate (those of dead daemons are lost anyway).
    fn run(&mut self, time: Duration, fate: &mut dyn FnMut(usize, usize, &Bytes) -> Fate) {
        let end = self.now + time;
        while self.now < end {
            for i in 0..self.cores.len() {
                if self.alive[i] {
                    self.collect(i);
                }
            }
            if let Some((from, to, bytes)) = self.flight.pop_front() {
                if !self.alive[from] || !self.alive[to] {
                    continue;
                }
                match fate(from, to, &bytes) {
                    Fate::Deliver => self.cores[to].handle_datagram(self.now, addr(from), bytes),
                    Fate::Lose => {}
                    Fate::KillSender => self.alive[from] = false,
                }
                continue;
            }
            self.now = self.now + Duration::from_millis(1);
            for i in 0..self.cores.len() {
                if self.alive[i] {
                    self.cores[i].handle_timeout(self.now);
                }
            }
        }
    }
}

#[test]
fn a_coordinator_that_dies_mid_change_is_replaced_and_the_change_restarts() {
    let mut net = Net::new(3);
    let first = net.view(1);
    // d2 dies; d0, the lowest, runs the change to [d0, d1] and dies as it sends the commit.
    net.alive[2] = false;
    let mut killed_at_commit = false;
    let mut fate = |from: usize, _to: usize, bytes: &Bytes| {
        let commit = controls(bytes)
            .iter()
            .any(|c| matches!(c, Control::Commit { .. }));
        if from == 0 && commit {
            killed_at_commit = true;
            Fate::KillSender
        } else {
            Fate::Deliver
        }
    };
    net.run(Duration::from_millis(700), &mut fate);
    assert!(killed_at_commit, "the coordinator never sent a commit");
    // d1 stated its place and waits for a commit that will not come: `status` shows it.
    let status = net.cores[1].status(net.now);
    let change = status.view_change.expect("a change under way at d1");
    assert_eq!(change.coordinator, addr(0).to_string());
    assert_eq!(change.step, "stated");
    assert_eq!(change.members, vec!["d0", "d1"]);
    assert_eq!(
        net.view(1),
        first,
        "nothing is installed before the install"
    );
    // It gives up on the silent coordinator and forms a view alone.
    net.run(Duration::from_secs(3), &mut |_, _, _| Fate::Deliver);
    let alone = net.view(1);
    assert_eq!(alone.members, vec!["d1"]);
    assert!(alone.view_id > first.view_id);
    assert!(!alone.primary);
    assert!(net.cores[1].status(net.now).view_change.is_none());
}

#[test]
fn a_lost_install_is_sent_again() {
    let mut net = Net::new(3);
    let first = net.view(0);
    net.alive[2] = false;
    let mut installs_to_d1 = 0;
    let mut fate = |from: usize, to: usize, bytes: &Bytes| {
        let install = controls(bytes)
            .iter()
            .any(|c| matches!(c, Control::Install { .. }));
        if from == 0 && to == 1 && install {
            installs_to_d1 += 1;
            if installs_to_d1 == 1 {
                return Fate::Lose;
            }
        }
        Fate::Deliver
    };
    net.run(Duration::from_secs(3), &mut fate);
    assert!(installs_to_d1 >= 2, "the install was not sent again");
    let (a, b) = (net.view(0), net.view(1));
    assert_eq!(a, b, "both install the same view");
    assert_eq!(a.members, vec!["d0", "d1"]);
    assert!(a.view_id > first.view_id && a.primary);
}

#[test]
fn a_member_lost_during_the_change_is_left_out_of_a_new_attempt() {
    let mut net = Net::new(3);
    let first = net.view(0);
    // d2 dies; while d0 runs the change to [d0, d1], d1 dies too as it sends its state.
    net.alive[2] = false;
    let mut fate = |from: usize, _to: usize, bytes: &Bytes| {
        let state = controls(bytes)
            .iter()
            .any(|c| matches!(c, Control::State { .. }));
        if from == 1 && state {
            Fate::KillSender
        } else {
            Fate::Deliver
        }
    };
    net.run(Duration::from_secs(3), &mut fate);
    assert!(!net.alive[1]);
    let alone = net.view(0);
    assert_eq!(alone.members, vec!["d0"]);
    assert!(alone.view_id > first.view_id);
}

#[test]
fn a_restarted_coordinator_whose_rounds_are_behind_is_told_and_merges_at_once() {
    let mut net = Net::new(3);
    // d0, the lowest address and so the one to run changes, dies; the others change view
    // without it, so their attempts' rounds move past anything a new d0 starts with.
    net.alive[0] = false;
    net.run(Duration::from_secs(2), &mut |_, _, _| Fate::Deliver);
    assert_eq!(net.view(1).members, vec!["d1", "d2"]);
    net.restart(0);
    let mut behind = 0;
    let mut fate = |_from: usize, _to: usize, bytes: &Bytes| {
        behind += controls(bytes)
            .iter()
            .filter(|c| matches!(c, Control::Behind { .. }))
            .count();
        Fate::Deliver
    };
    // Well within one failure timeout (500 ms), so not by waiting for a timeout.
    net.run(Duration::from_millis(300), &mut fate);
    assert!(
        behind > 0,
        "no member told the new d0 its rounds are behind"
    );
    for i in 0..3 {
        assert_eq!(net.view(i).members, vec!["d0", "d1", "d2"], "d{i}");
    }
}
