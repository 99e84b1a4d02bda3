//! A throwaway PostgreSQL server for tests: initdb into a temporary
//! directory, started on a free port, stopped and removed on drop. It
//! never skips: without the server binaries the test fails and says what
//! to install.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    let candidates = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists());
    candidates.max().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin: \
             install them with `apt-get install postgresql` (.ci/run does)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root
/// (the server refuses to run as root).
fn run(bin: &Path, args: &[&str]) {
    if let Err(failure) = try_run(bin, args) {
        panic!("{failure}");
    }
}

/// [`run`], with the failure (the command and its output) as an error.
fn try_run(bin: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let output = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {:?} failed:\n{}{}",
        bin.display(),
        args,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

impl TestPostgres {
    pub(crate) fn start() -> TestPostgres {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "portico-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the data directory");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the data directory to postgres");
        }
        let data = dir.join("data");
        let data_str = data.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_str,
                "-A",
                "trust",
                "-U",
                "portico",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        // A free port is only free until someone takes it: another test
        // may between our look and the server's bind. Try a few.
        let mut server = TestPostgres { bin, dir, port: 0 };
        for attempt in 1..=5 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .expect("a free port")
                .local_addr()
                .expect("addr")
                .port();
            match server.try_start() {
                Ok(()) => return server,
                Err(failure) if attempt < 5 && server.log().contains("could not bind") => {
                    eprintln!(
                        "port {} was taken meanwhile; another: {failure}",
                        server.port
                    );
                }
                Err(failure) => panic!("{failure}\n{}", server.log()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `host=… port=… user=portico dbname=postgres`.
    pub(crate) fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=portico dbname=postgres connect_timeout=2",
            self.port
        )
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        run(&self.bin.join("pg_ctl"), &all);
    }

    /// Starts (again) on the same port and data.
    pub(crate) fn start_again(&self) {
        if let Err(failure) = self.try_start() {
            panic!("{failure}\n{}", self.log());
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let args = [
            "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
        ];
        try_run(&self.bin.join("pg_ctl"), &args)
    }

    /// The server's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Stops the server at once (connections are cut).
    pub(crate) fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&pg_ctl)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output()
        } else {
            Command::new(&pg_ctl)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
