//! Serves one twin app of the HTTP benchmark: `twin <framework> <none|cookie|memory>`.
//!
//! Listens on a free loopback port, prints `listening on <address>` once it
//! can take connections, and serves until killed.

use std::io::Write;
use std::process::ExitCode;

use sessions_bench::apps::{self, Framework, Sessions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(framework), Some(sessions)) =
        (args.first().and_then(|name| Framework::parse(name)), args.get(1).and_then(|name| Sessions::parse(name)))
    else {
        eprintln!("usage: twin <axum|actix|rocket|warp> <none|cookie|memory>");
        return ExitCode::from(2);
    };
    let result = std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| {
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        apps::serve(framework, sessions, listener)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("twin: {err}");
            ExitCode::FAILURE
        }
    }
}
