//! An interactive group chat on the gcs client library.
//!
//! Start a daemon (`cargo run --bin gcsd`), then in two or more terminals:
//!
//! ```text
//! cargo run --example chat -- alice
//! cargo run --example chat -- bob lobby
//! ```
//!
//! Every line you type goes to everyone in the room in one agreed order; joins and departures are
//! shown as they happen. `/who` lists the room, `/quit` (or end of input) leaves.

use gcs::{Client, Event, Order};
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let room = args.next().unwrap_or_else(|| "lobby".to_string());

    let mut client = Client::connect(&name).await?;
    client.join(&room).await?;
    println!(
        "* you are {} in '{room}'; /who lists the room, /quit leaves",
        client.private_name()
    );

    // Typed lines arrive through a channel so waiting for them never loses a half-read line.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if tx.send(line).await.is_err() {
                break;
            }
        }
    });

    let mut members: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            line = lines.recv() => match line.as_deref() {
                None | Some("/quit") => break,
                Some("/who") => println!("* in '{room}': {}", members.join(", ")),
                Some("") => {}
                Some(text) => client.multicast(&[&room], Order::Agreed, text.to_string()).await?,
            },
            event = client.recv() => match event? {
                Event::Message(m) => {
                    let who = m.sender.split('#').next().unwrap_or(&m.sender).to_string();
                    println!("<{who}> {}", String::from_utf8_lossy(&m.payload));
                }
                Event::View(v) => {
                    for j in &v.joined {
                        println!("* {j} joined");
                    }
                    for l in &v.left {
                        println!("* {l} left ({})", v.reason);
                    }
                    members = v.members;
                }
                Event::DaemonView(_) => {}
            },
        }
    }
    client.leave(&room).await?;
    client.disconnect().await?;
    Ok(())
}
