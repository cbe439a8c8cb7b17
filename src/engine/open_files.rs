//! The process's open-file limit: every request in flight holds a socket.

/// Raises the soft limit to the hard one, as Go programs (s5cmd, rclone) do at start-up: a login
/// shell's soft limit is often 1,024. What the hard limit still forbids, the copier keeps under.
#[cfg(unix)]
pub fn raise() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct passed; a failure leaves the limit
    // as it was, which the copier then respects.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The soft limit, if there is one.
#[cfg(unix)]
pub fn limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only the struct passed.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise() {}

#[cfg(not(unix))]
pub fn limit() -> Option<u64> {
    None
}
