//! A throwaway Redis server for tests: `redis-server` on a free loopback
//! port, no persistence, killed on drop. It never skips: without the
//! binary the test fails and says what to install.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct TestRedis {
    pub port: u16,
    child: Mutex<Option<Child>>,
}

impl TestRedis {
    pub(crate) fn start() -> TestRedis {
        for attempt in 1..=5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("a free port")
                .local_addr()
                .expect("addr")
                .port();
            let server = TestRedis {
                port,
                child: Mutex::new(None),
            };
            match server.try_start() {
                Ok(()) => return server,
                Err(failure) if attempt < 5 => {
                    eprintln!("redis on {port}: {failure}; another port")
                }
                Err(failure) => panic!("{failure}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_start(&self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run redis-server ({err}): install it with `apt-get install redis-server` \
                     (.ci/run does)"
                )
            });
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(format!("redis-server exited: {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not listen within 10 s".into())
    }

    /// Kills the server at once (its data, kept only in memory, is lost).
    pub(crate) fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new server on the same port.
    pub(crate) fn start_again(&self) {
        if let Err(failure) = self.try_start() {
            panic!("{failure}");
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
