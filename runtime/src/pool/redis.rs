//! A Redis connection for shared state: one multiplexed connection (the
//! concurrent callers' commands pipelined on one socket) that reconnects
//! by itself, every wait bounded.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Connects to the Redis server at `url` (`redis://host:port/db`) now;
/// later, a lost connection is made again on its own. Connecting and each
/// command's answer wait at most a second.
pub(crate) async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}
