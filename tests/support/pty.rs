//! The real binary in a pseudo-terminal: keys in, the screen read back through a terminal
//! emulator (vt100), as an operator over SSH would see it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::{Workspace, binary};

pub struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    master: Option<Box<dyn MasterPty + Send>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Console {
    /// Starts `s3ferry ARGS` in a `rows` x `cols` terminal, with only the workspace's AWS files.
    pub fn spawn(ws: &Workspace, args: &[&str], rows: u16, cols: u16) -> Console {
        let pty = native_pty_system();
        let pair = pty.openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).expect("openpty");
        let mut cmd = CommandBuilder::new(binary());
        cmd.args(args);
        cmd.env_clear();
        for (k, v) in ws.env() {
            cmd.env(k, v);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.cwd(ws.path());
        let child = pair.slave.spawn_command(cmd).expect("spawn s3ferry in the pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        // Scrollback kept, so what is printed after the console closes can be read.
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 500)));
        let feed = parser.clone();
        // Reads until the pty closes (the child exits); bounded by that, never by a sleep.
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => feed.lock().unwrap().process(&buf[..n]),
                }
            }
        });
        Console { parser, writer, child, master: Some(pair.master), reader: Some(reader) }
    }

    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Types `keys` (bytes as a terminal sends them: "\r" Enter, "\x1b" Esc, " " Space).
    pub fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Polls the screen until `pred` holds, or fails with the screen as it was.
    pub fn wait_for(&self, what: &str, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + deadline;
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}; the screen:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `wait_for` a text on screen.
    pub fn wait_text(&self, needle: &str, deadline: Duration) -> String {
        self.wait_for(needle, deadline, |t| t.contains(needle))
    }

    /// On the plan screen: waits for the preflight, presses y, and answers y again when the
    /// console asks because the preflight is not READY. Returns whether it asked.
    pub fn start_run(&mut self) -> bool {
        self.wait_for("the preflight", Duration::from_secs(60), |t| !t.contains("preflight: running"));
        self.press("y");
        let t = self.wait_for("the run or the question", Duration::from_secs(10), |t| {
            t.contains("Start although") || !t.contains("Plan complete")
        });
        let asked = t.contains("Start although");
        if asked {
            self.press("y");
        }
        asked
    }

    /// Sends a signal to the process (SIGHUP: what an SSH drop sends).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.process_id().expect("a pid") as i32;
        // SAFETY: kill(2) with a pid this test started; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
    }

    /// Waits for the process to exit; its status and the screen (scrollback included) after.
    pub fn wait_exit(mut self, deadline: Duration) -> (portable_pty::ExitStatus, String) {
        let until = Instant::now() + deadline;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < until, "s3ferry did not exit:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(self.master.take());
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.scrollback())
    }

    /// The whole text the terminal holds: the scrollback and the screen.
    fn scrollback(&self) -> String {
        let mut parser = self.parser.lock().unwrap();
        let mut lines = Vec::new();
        // vt100 shows the scrollback by offsetting the screen; read it page by page.
        let rows = parser.screen().size().0 as usize;
        let mut offset = 0;
        loop {
            parser.screen_mut().set_scrollback(offset);
            let page = parser.screen().contents();
            if offset > 0 && parser.screen().scrollback() < offset {
                break;
            }
            lines.push(page);
            offset += rows;
            if offset > 500 {
                break;
            }
        }
        parser.screen_mut().set_scrollback(0);
        lines.reverse();
        lines.join("\n")
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
