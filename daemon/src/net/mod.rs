//! The UDP side of the daemon: the socket other daemons reach this one on.
//!
//! Owns socket setup (buffer sizes; no address reuse, so no other socket, of this user or another,
//! can bind the daemon's port beside it and read its datagrams). It never interprets datagrams.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Receive and send buffer size asked of the kernel; it may grant less.
pub const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The largest datagram read.
pub const MAX_DATAGRAM: usize = 65_507;

/// Binds the daemon's UDP socket on `addr`. Must run inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Larger buffers absorb bursts; the kernel caps them at net.core.rmem_max / wmem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_other_socket_can_share_the_daemons_port() {
        let udp = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = udp.local_addr().unwrap();
        // Even one that asks for address reuse, as SO_REUSEADDR would otherwise allow.
        let other = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        other.set_reuse_address(true).unwrap();
        assert!(other.bind(&addr.into()).is_err());
    }
}
