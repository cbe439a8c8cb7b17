//! The one table of exit codes. Every command decides an [`Exit`]; `main` turns it into the
//! process's status. The codes each command can end with are listed in its `--help`.

/// How a command ended, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (every object in scope is at the destination, READY, allowed).
    Success,
    /// 1: not done (objects failed, a listing failed, BLOCKED, denied, or an error at run time).
    Failed,
    /// 2: usage or configuration error: nothing ran.
    Usage,
    /// 3: the verdict could not be decided (preflight, explain).
    Unknown,
    /// 4: credentials expire (or expired) and cannot renew: the run stopped before losing
    /// anything; re-authenticate and rerun to resume.
    Credentials,
    /// 5: `--max-failures` was reached: dispatching stopped.
    MaxFailures,
    /// 6: `--require-ready` and the preflight is not READY: nothing was copied.
    NotReady,
    /// 128 + the signal (129 SIGHUP, 130 Ctrl-C, 143 SIGTERM), as shells report it.
    Signal(i32),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Unknown => 3,
            Exit::Credentials => 4,
            Exit::MaxFailures => 5,
            Exit::NotReady => 6,
            Exit::Signal(n) => u8::try_from(128 + n).unwrap_or(1),
        }
    }

    /// Success or Failed.
    pub fn from_ok(ok: bool) -> Exit {
        if ok { Exit::Success } else { Exit::Failed }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let table = [
            (Exit::Success, 0),
            (Exit::Failed, 1),
            (Exit::Usage, 2),
            (Exit::Unknown, 3),
            (Exit::Credentials, 4),
            (Exit::MaxFailures, 5),
            (Exit::NotReady, 6),
            (Exit::Signal(1), 129),
            (Exit::Signal(2), 130),
            (Exit::Signal(15), 143),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
