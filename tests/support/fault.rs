//! The fault-injecting proxy (tests/support/fault_proxy.py) as a test helper: ExpiredToken for
//! credentials after a number of requests, and bursts of 503 SlowDown. It runs on 127.0.0.1
//! with the moto venv's Python and stops when this handle drops (or the test process ends).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{ensure_venv, repo_root};

pub struct FaultProxy {
    pub endpoint: String,
    port: u16,
    child: Child,
}

impl FaultProxy {
    /// `args` are the proxy's flags, e.g. `["--expire-after", "40"]`.
    pub fn start(upstream: &str, args: &[&str]) -> FaultProxy {
        let python = ensure_venv().unwrap_or_else(|e| panic!("no venv for the fault proxy: {e}"));
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/support/fault_proxy.py"))
            .args(["--upstream", upstream, "--lifetime", "900"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("proxy stdout")).read_line(&mut line).expect("proxy port");
        let ready: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("the fault proxy did not start ({line:?}): {e}"));
        let port = ready["port"].as_u64().expect("port") as u16;
        FaultProxy { endpoint: format!("http://127.0.0.1:{port}"), port, child }
    }

    /// The proxy's counters: requests, s3_requests, expired_responses, slowdowns,
    /// session_keys_seen, keys_expired, before_identity_answer, listings, expired_listings.
    pub fn stats(&self) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the proxy");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(s, "GET /__fault/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("ask");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read stats");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("bad stats {text:?}: {e}"))
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
