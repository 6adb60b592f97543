//! The open-file limit (`RLIMIT_NOFILE`): every HTTP, RTMP and WebRTC connection holds
//! a file descriptor, and services often start with a soft limit of 1,024. At start the
//! process raises its soft limit to the hard limit (which only the service manager can
//! raise: `LimitNOFILE=` in systemd, `ulimit -n` in a shell).

/// The open-file limit after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit before raising it.
    pub was: u64,
    /// The soft limit now in force.
    pub soft: u64,
    pub hard: u64,
}

/// Below this many descriptors the banner warns that large cohorts will not fit.
pub const RECOMMENDED_NOFILE: u64 = 65_536;

/// Raises the soft open-file limit to the hard limit.
#[cfg(unix)]
pub fn raise_nofile() -> std::io::Result<NoFile> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let was = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; the call only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    // RLIM_INFINITY is the largest value: as a count, "more than we will ever use".
    // `rlim_t` is `u64` on Linux but narrower on some other targets.
    #[allow(clippy::useless_conversion)]
    Ok(NoFile {
        was: u64::from(was),
        soft: u64::from(lim.rlim_cur),
        hard: u64::from(lim.rlim_max),
    })
}

#[cfg(not(unix))]
pub fn raise_nofile() -> std::io::Result<NoFile> {
    Err(std::io::Error::other("no RLIMIT_NOFILE on this platform"))
}

/// HTTP connections that fit in `soft` descriptors, keeping room for the rest of the
/// process (RTMP and WebRTC peers, store files, the Q&A database, refused connections).
pub fn connections_within(soft: u64) -> usize {
    let reserve = (soft / 4).clamp(64, 4096);
    usize::try_from(soft.saturating_sub(reserve).max(32)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers() {
        let l = raise_nofile().expect("getrlimit works here");
        assert!(l.soft >= l.was);
        assert_eq!(l.soft, l.hard);
    }

    #[test]
    fn room_is_kept_for_other_descriptors() {
        assert_eq!(connections_within(1024), 768);
        assert_eq!(connections_within(65_536), 61_440);
        assert_eq!(connections_within(100), 36);
        assert_eq!(connections_within(10), 32);
    }
}
