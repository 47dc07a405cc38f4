//! How the CLI prints events: one JSON object a line (`--json`, the scripting contract documented
//! in gcs(1)), or a compact human form. Every line is flushed as it is written.

use base64::Engine;
use gcs::{DaemonView, Event, GroupView, Message, Status};
use serde_json::{json, Value};
use std::io::{self, Write};

/// Prints events in the chosen form.
pub struct Printer {
    json: bool,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        Printer { json }
    }

    fn line(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }

    pub fn connected(&self, name: &str) -> io::Result<()> {
        if self.json {
            self.line(&json!({"event": "connected", "name": name}).to_string())
        } else {
            self.line(&format!("connected as {name}"))
        }
    }

    pub fn event(&self, event: &Event) -> io::Result<()> {
        match event {
            Event::Message(m) => self.message(m),
            Event::View(v) => self.view(v),
            Event::DaemonView(v) => self.daemon_view(v),
        }
    }

    fn message(&self, m: &Message) -> io::Result<()> {
        if self.json {
            let mut obj = json!({
                "event": "message",
                "groups": m.groups,
                "sender": m.sender,
                "order": m.order.as_str(),
            });
            match std::str::from_utf8(&m.payload) {
                Ok(text) => obj["data"] = Value::from(text),
                Err(_) => {
                    obj["data_b64"] =
                        Value::from(base64::engine::general_purpose::STANDARD.encode(&m.payload))
                }
            }
            self.line(&obj.to_string())
        } else {
            let body = String::from_utf8_lossy(&m.payload);
            self.line(&format!(
                "[{}] {} ({}): {}",
                m.groups.join(","),
                m.sender,
                m.order,
                body
            ))
        }
    }

    fn view(&self, v: &GroupView) -> io::Result<()> {
        if self.json {
            self.line(
                &json!({
                    "event": "view",
                    "group": v.group,
                    "view_id": v.view_id,
                    "members": v.members,
                    "joined": v.joined,
                    "left": v.left,
                    "reason": v.reason.as_str(),
                    "transitional": v.transitional,
                })
                .to_string(),
            )
        } else {
            let mut text = format!(
                "view {} #{} ({}{}): [{}]",
                v.group,
                v.view_id,
                v.reason,
                if v.transitional { ", transitional" } else { "" },
                v.members.join(", ")
            );
            if !v.joined.is_empty() {
                text.push_str(&format!(" joined: {}", v.joined.join(", ")));
            }
            if !v.left.is_empty() {
                text.push_str(&format!(" left: {}", v.left.join(", ")));
            }
            self.line(&text)
        }
    }

    fn daemon_view(&self, v: &DaemonView) -> io::Result<()> {
        if self.json {
            self.line(
                &json!({
                    "event": "daemon_view",
                    "view_id": v.view_id,
                    "members": v.members,
                    "primary": v.primary,
                })
                .to_string(),
            )
        } else {
            self.line(&format!(
                "daemon view #{}{}: [{}]",
                v.view_id,
                if v.primary {
                    " (primary)"
                } else {
                    " (not primary)"
                },
                v.members.join(", ")
            ))
        }
    }

    pub fn sent(&self, groups: &[String], count: u64) -> io::Result<()> {
        if self.json {
            self.line(&json!({"event": "sent", "groups": groups, "count": count}).to_string())
        } else {
            self.line(&format!(
                "sent {count} message{} to {}",
                if count == 1 { "" } else { "s" },
                groups.join(",")
            ))
        }
    }

    pub fn status(&self, s: &Status) -> io::Result<()> {
        if self.json {
            let mut obj = serde_json::to_value(s).map_err(io::Error::other)?;
            if let Value::Object(map) = &mut obj {
                map.insert("event".into(), Value::from("status"));
            }
            return self.line(&obj.to_string());
        }
        let mut t = String::new();
        let secs = s.uptime_ms / 1000;
        t.push_str(&format!("daemon     {} (gcsd {})\n", s.daemon, s.version));
        t.push_str(&format!(
            "uptime     {}h {:02}m {:02}s\n",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ));
        t.push_str(&format!(
            "view       #{} {} [{}]\n",
            s.daemon_view.view_id,
            if s.daemon_view.primary {
                "primary"
            } else {
                "not primary"
            },
            s.daemon_view.members.join(", ")
        ));
        if let Some(c) = &s.view_change {
            t.push_str(&format!(
                "change     round {} run by {}, {} for [{}], {} ms\n",
                c.round,
                c.coordinator,
                c.step,
                c.members.join(", "),
                c.since_ms
            ));
        }
        if !s.peers.is_empty() {
            t.push_str(&format!("peers      {}\n", s.peers.len()));
            for p in &s.peers {
                let heard = p
                    .last_heard_ms
                    .map_or("never heard".to_string(), |ms| format!("heard {ms} ms ago"));
                let name = if p.name.is_empty() { "?" } else { &p.name };
                t.push_str(&format!(
                    "  {:<16} {:<22} {:<8} {heard}\n",
                    name, p.addr, p.state
                ));
            }
        }
        t.push_str(&format!("clients    {}\n", s.clients.len()));
        for c in &s.clients {
            t.push_str(&format!(
                "  {:<32} groups: {}\n",
                c.name,
                c.groups.join(",")
            ));
        }
        t.push_str(&format!("groups     {}\n", s.groups.len()));
        if !s.groups.is_empty() {
            t.push_str(&format!(
                "  {:<32} {:>8} {:>10}\n",
                "GROUP", "MEMBERS", "VIEW"
            ));
            for g in &s.groups {
                t.push_str(&format!(
                    "  {:<32} {:>8} {:>10}\n",
                    g.name, g.members, g.view_id
                ));
            }
        }
        t.push_str("counters\n");
        if let Value::Object(map) = serde_json::to_value(&s.counters).map_err(io::Error::other)? {
            for (k, v) in map {
                t.push_str(&format!("  {k:<24} {v}\n"));
            }
        }
        self.line(t.trim_end())
    }
}
