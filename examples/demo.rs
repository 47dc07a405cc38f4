//! A self-contained tour of gcs: starts a daemon inside this process on a temporary socket,
//! connects three clients, and shows views and messages in every order as each client sees them.
//!
//! ```text
//! cargo run --example demo
//! ```

use gcs::{Client, Event, Order};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("gcsd.sock");
    let config = gcsd::Config::load(
        None,
        gcsd::Overrides {
            name: Some("demo-host".into()),
            socket: Some(socket.clone()),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        },
    )?;
    let daemon = gcsd::Daemon::bind(config)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stopped.await;
    }));
    println!("gcsd is serving on {}\n", socket.display());

    let mut clients = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut c = Client::connect_to(&socket, name).await?;
        c.join("chat").await?;
        clients.push(c);
    }
    // Each sender waits (sync) until the daemon has its message, so the tour reads in order.
    for (i, order) in Order::ALL.into_iter().enumerate() {
        let sender = &mut clients[i % 3];
        let text = format!("this message is {order}, from {}", sender.private_name());
        sender.multicast(&["chat"], order, text).await?;
        sender.sync().await?;
    }
    let mut alice = clients.remove(0);
    let mut bob = clients.remove(0);
    let mut carol = clients.remove(0);
    carol.leave("chat").await?;
    bob.sync().await?;
    bob.disconnect().await?;
    alice.multicast(&["chat"], Order::Agreed, "bye").await?;

    println!("what alice saw:");
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(300), alice.recv()).await {
        match event {
            Event::View(v) => println!(
                "  view #{} of {} ({}): {:?}",
                v.view_id, v.group, v.reason, v.members
            ),
            Event::Message(m) => println!(
                "  [{}] {}: {}",
                m.order,
                m.sender,
                String::from_utf8_lossy(&m.payload)
            ),
            Event::DaemonView(_) => {}
        }
    }
    println!("\nstatus: {:?}", alice.status().await?.counters);
    let _ = stop.send(());
    running.await?;
    Ok(())
}
