//! The PyPI tools some tests run (listed in `.ci/python-tools.txt`,
//! installed by `.ci/run`): where to find them, and running one bounded in
//! time.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tool from PyPI: in `PORTICO_PYTHON_TOOLS` (a directory), in
/// `target/python-tools/bin` (where `.ci/run` installs them), or on PATH.
pub(crate) fn tool(name: &str) -> PathBuf {
    let mut places: Vec<PathBuf> = std::env::var_os("PORTICO_PYTHON_TOOLS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    places.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-tools/bin"));
    places.extend(
        std::env::var_os("PATH").map_or_else(Vec::new, |p| std::env::split_paths(&p).collect()),
    );
    places
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed. Install the PyPI tools the tests use (what .ci/run does):\n\
                 python3 -m venv target/python-tools && target/python-tools/bin/pip install -r .ci/python-tools.txt"
            )
        })
}

/// Runs `command` to its end, killed after `limit`.
pub(crate) async fn run(
    mut command: tokio::process::Command,
    limit: Duration,
) -> std::process::Output {
    let what = format!("{:?}", command.as_std().get_program());
    tokio::time::timeout(limit, command.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap_or_else(|err| panic!("cannot run {what}: {err}"))
}
