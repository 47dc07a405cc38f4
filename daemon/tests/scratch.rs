use gcsd::check::Event;
use gcsd::sim::{Sim, SimConfig};

#[test]
fn scratch() {
    let seed: u64 = std::env::var("S").unwrap().parse().unwrap();
    let procs: Vec<String> = std::env::var("P")
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or("info".into()))
        .without_time()
        .with_ansi(false)
        .try_init();
    let mut cfg = SimConfig::from_seed(seed);
    if std::env::var("NOFAULT").is_ok() {
        cfg.fault_rate = 0.0;
    }
    let out = Sim::with_config(seed, cfg).run();
    for p in &out.history.processes {
        if !procs
            .iter()
            .any(|x| p.name.starts_with(x.as_str()) && !x.is_empty())
        {
            continue;
        }
        println!("=== {}", p.name);
        for e in &p.events {
            match e {
                Event::View(v) => println!("  VIEW {:?}", v),
                Event::Deliver {
                    id, groups, order, ..
                } => println!("  deliver {id} {groups:?} {order:?}"),
                e => println!("  {:?}", e),
            }
        }
    }
    println!("{}", out.report());
}
