//! `dlm run`'s command as a process group of its own: started with `setpgid`, signalled as a
//! whole (`kill(-pgid, ..)`), and waited for until no process of it is left.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// How often the group is looked at while dlm waits for it to be gone.
const POLL: Duration = Duration::from_millis(5);

/// How long a group that SIGKILL did not end (a process stuck in the kernel) is waited for.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// The running command: its leader (the process dlm started) and the process group it leads.
pub struct Group {
    leader: Child,
    pgid: libc::pid_t,
    /// The leader's status once reaped.
    status: Option<ExitStatus>,
    /// The terminal handed to the group (given back when it is gone).
    terminal: Option<Terminal>,
}

impl Group {
    /// Starts `command` as the leader of a new process group. dlm becomes a child subreaper first
    /// (Linux): processes of the group whose parent exits are re-parented to dlm, which reaps them,
    /// so "gone" can be told even where PID 1 reaps nothing (containers). When dlm runs in the
    /// foreground of a terminal, the terminal is handed to the new group (so that the command can
    /// read from it, and Ctrl-C reaches the whole group from the terminal itself) and given back
    /// when the group is gone.
    pub fn spawn(command: &mut Command) -> io::Result<Group> {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(2) with integer arguments only; it changes this process's own attribute.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let foreground = foreground_terminal();
        command.process_group(0);
        if foreground.is_some() {
            // SAFETY: only async-signal-safe calls (signal, setpgid, getpid, tcsetpgrp) between fork
            // and exec, on the child's own process group and its standard input.
            unsafe {
                command.pre_exec(|| {
                    libc::setpgid(0, 0);
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                    Ok(())
                });
            }
        }
        let leader = command.spawn()?;
        let pgid = leader.id().expect("a process just started has a pid") as libc::pid_t;
        let terminal = foreground.map(|own| Terminal::hand_to(own, pgid));
        Ok(Group {
            leader,
            pgid,
            status: None,
            terminal,
        })
    }

    /// Sends `signal` to every process of the group (nothing once it is gone).
    pub fn signal(&self, signal: libc::c_int) {
        if self.is_gone() {
            return;
        }
        // SAFETY: kill(2) on our command's process group, which exists (see `is_gone`): its number
        // cannot have been reused while a member (or the unreaped leader) is left.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }

    /// Waits until the leader exits; its status. Cancel-safe.
    pub async fn leader_exit(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.leader.wait().await?;
        self.status = Some(status);
        Ok(status)
    }

    /// Whether the leader has exited (and was reaped).
    pub fn leader_done(&self) -> bool {
        self.status.is_some()
    }

    /// Whether no process of the group is left (zombies reaped first: with dlm as subreaper, the
    /// group's orphans are dlm's to reap). Before the leader is reaped the group exists.
    pub fn is_gone(&self) -> bool {
        if self.status.is_none() {
            return false;
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid(2) on our own command's process group, without blocking; the leader
            // was reaped already, so this never takes tokio's child from under it.
            let reaped = unsafe { libc::waitpid(-self.pgid, &mut status, libc::WNOHANG) };
            if reaped <= 0 {
                break;
            }
        }
        // SAFETY: kill(2) with signal 0 only checks whether the group has a process (EPERM: it has
        // one dlm may not signal, a setuid program say).
        let checked = unsafe { libc::kill(-self.pgid, 0) };
        checked == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }

    /// Waits until the leader exited and the group is gone, at most until `until`; whether it is.
    pub async fn gone_by(&mut self, until: Instant) -> bool {
        if !self.leader_done()
            && tokio::time::timeout_at(until.into(), self.leader_exit())
                .await
                .is_err()
        {
            return false;
        }
        loop {
            if self.is_gone() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Stops the whole group: `first` (SIGTERM, say) now unless `None`, SIGKILL at `kill_at` if
    /// anything is left, and waits until it is gone (bounded: a process SIGKILL cannot end at once,
    /// stuck in the kernel, is waited for two seconds more). Whether it is gone.
    pub async fn stop(&mut self, first: Option<libc::c_int>, kill_at: Instant) -> bool {
        if let Some(signal) = first {
            self.signal(signal);
        }
        if self.gone_by(kill_at).await {
            return true;
        }
        self.signal(libc::SIGKILL);
        self.gone_by(Instant::now() + AFTER_KILL).await
    }

    /// Gives the terminal back to dlm's own process group, when it was handed over.
    pub fn restore_terminal(&mut self) {
        if let Some(t) = self.terminal.take() {
            t.give_back();
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.restore_terminal();
    }
}

/// dlm's own process group, when standard input is a terminal whose foreground group it is.
fn foreground_terminal() -> Option<libc::pid_t> {
    // SAFETY: isatty/tcgetpgrp/getpgrp only read attributes of this process and its stdin.
    unsafe {
        if libc::isatty(libc::STDIN_FILENO) != 1 {
            return None;
        }
        let own = libc::getpgrp();
        (libc::tcgetpgrp(libc::STDIN_FILENO) == own).then_some(own)
    }
}

/// The terminal, handed from dlm's process group to the command's.
struct Terminal {
    own: libc::pid_t,
}

impl Terminal {
    fn hand_to(own: libc::pid_t, pgid: libc::pid_t) -> Terminal {
        // SAFETY: dlm ignores SIGTTOU from now on (it is in the background of its terminal while
        // the command runs: handing the terminal back, or writing to it with `tostop` set, would
        // otherwise stop it), then makes the command's group the foreground one (the child does
        // the same before exec; whichever comes first).
        unsafe {
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(libc::STDIN_FILENO, pgid);
        }
        Terminal { own }
    }

    fn give_back(self) {
        // SAFETY: makes dlm's own group the terminal's foreground group again (SIGTTOU ignored).
        unsafe {
            libc::tcsetpgrp(libc::STDIN_FILENO, self.own);
        }
    }
}
