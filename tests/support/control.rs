//! A stand-in for S3 Control (moto has no Batch Operations): an HTTP server on 127.0.0.1 that
//! records every request and answers CreateJob and DescribeJob with plausible XML. It serves at
//! most [`MAX_REQUESTS`] requests, one per connection, and stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const MAX_REQUESTS: usize = 64;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The text of the first `<tag>` element in the body.
    pub fn element(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{tag}>"))?;
        Some(&self.body[start..start + end])
    }
}

pub struct ControlStub {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    describe: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlStub {
    /// CreateJob answers with `job_id`; DescribeJob with what [`ControlStub::describe_with`] set.
    pub fn start(job_id: &str) -> ControlStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let describe = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, d, s, id) = (requests.clone(), describe.clone(), stop.clone(), job_id.to_string());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_REQUESTS) {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &r, &d, &id);
                }
            }
        });
        ControlStub { url, requests, describe, stop, thread: Some(thread) }
    }

    pub fn describe_with(&self, xml: String) {
        *self.describe.lock().unwrap() = xml;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ControlStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Recorded>>, describe: &Mutex<String>, job_id: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0usize);
    let mut body = vec![0; len.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    requests.lock().unwrap().push(Recorded { method: method.clone(), path: path.clone(), headers, body });

    let (status, xml) = if method == "POST" && path.starts_with("/v20180820/jobs") {
        (
            "200 OK",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><CreateJobResult><JobId>{job_id}</JobId></CreateJobResult>"#
            ),
        )
    } else if method == "GET" && path.starts_with("/v20180820/jobs/") {
        ("200 OK", describe.lock().unwrap().clone())
    } else {
        ("404 Not Found", "<Error><Code>NotFound</Code><Message>not stubbed</Message></Error>".to_string())
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: stub\r\nConnection: close\r\n\r\n{xml}",
        xml.len()
    );
    let _ = stream.flush();
}
