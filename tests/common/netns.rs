//! The publisher's network for fault tests: a namespace (`NETNS`) joined to the host by a
//! link whose host end is `LINK_IP`, made, faulted and removed by `scripts/netns.sh`.
//! Only root can make one (CI runs these tests as root).

use std::process::Command;

pub const NETNS: &str = "amphi-pub";
/// The host's end of the link: what the publisher in the namespace connects to.
pub const LINK_IP: &str = "10.213.0.1";
/// Runs a program inside the namespace (a command prefix).
pub const EXEC: [&str; 4] = ["ip", "netns", "exec", NETNS];

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/netns.sh")
}

fn run(args: &[&str]) {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("AMPHI_NETNS", NETNS)
        .output()
        .expect("run scripts/netns.sh");
    assert!(
        out.status.success(),
        "scripts/netns.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The publisher's namespace and link, removed on drop (also when the test fails).
pub struct Netns;

impl Netns {
    pub fn up() -> Netns {
        let euid = Command::new("id").arg("-u").output().expect("id -u");
        assert_eq!(
            String::from_utf8_lossy(&euid.stdout).trim(),
            "0",
            "this test creates a network namespace: run it as root (CI does)"
        );
        run(&["up"]);
        Netns
    }

    /// Applies a fault to the link (`scripts/netns.sh fault …`).
    pub fn fault(&self, args: &[&str]) {
        let mut all = vec!["fault"];
        all.extend_from_slice(args);
        run(&all);
    }

    /// Lifts every fault.
    pub fn clear(&self) {
        run(&["clear"]);
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(EXEC[0]);
        c.args(&EXEC[1..]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Prints what the link did, then removes it.
        let _ = Command::new("bash")
            .args([script(), "down"])
            .env("AMPHI_NETNS", NETNS)
            .status();
    }
}
