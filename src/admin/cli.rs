//! `amphi user add|remove|list`: the console's local accounts. The password is read
//! from the terminal (without echo, twice) or from the first line of stdin, never from
//! the command line, where `ps` and shell history would show it.

use amphi_console::accounts::{AccountsFile, MIN_PASSWORD_CHARS};
use amphi_console::Role;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

#[derive(Subcommand)]
pub enum UserAction {
    /// Add a user (the password is read from the terminal or stdin).
    Add {
        name: String,
        /// admin, moderator, or lecturer:EVENT[,EVENT…] (repeatable).
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<Role>,
        /// Replace the password and roles of an existing user.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user.
    Remove { name: String },
    /// List users and their roles.
    List,
}

pub fn user_command(data_dir: &Path, action: UserAction) -> Result<()> {
    let file = AccountsFile::new(data_dir);
    match action {
        UserAction::Add {
            name,
            roles,
            replace,
        } => {
            let password = read_password()?;
            let account = file.add(&name, &password, roles, replace)?;
            let roles: Vec<String> = account.roles.iter().map(Role::to_string).collect();
            println!(
                "user {} ({}) saved in {}",
                account.name,
                roles.join(", "),
                file.path().display()
            );
        }
        UserAction::Remove { name } => {
            file.remove(&name)?;
            println!("removed user {name}");
        }
        UserAction::List => {
            for a in file.load()? {
                let roles: Vec<String> = a.roles.iter().map(Role::to_string).collect();
                println!("{}\t{}", a.name, roles.join(", "));
            }
        }
    }
    Ok(())
}

fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt_hidden(&format!(
        "Password (at least {MIN_PASSWORD_CHARS} characters): "
    ))?;
    let again = prompt_hidden("Again: ")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off.
#[cfg(unix)]
fn prompt_hidden(prompt: &str) -> Result<String> {
    use std::os::fd::AsRawFd;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let fd = std::io::stdin().as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on stdin's descriptor with a zeroed, then filled, termios.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_tty = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_tty {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above; the saved settings are restored below.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have_tty {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(not(unix))]
fn prompt_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
