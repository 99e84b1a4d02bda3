//! Acquiring and releasing a pooled connection allocates nothing once the
//! pool is warm: counted by a global allocator in a test binary of its own.

use portico::pool::{Manager, PoolBuilder};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

struct Numbers;

impl Manager for Numbers {
    type Connection = u64;
    type Error = std::io::Error;

    async fn connect(&self) -> Result<u64, std::io::Error> {
        Ok(1)
    }

    async fn check(&self, _: &mut u64) -> Result<(), std::io::Error> {
        Ok(())
    }
}

#[test]
fn steady_state_acquire_and_release_do_not_allocate() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = PoolBuilder::new()
            .min_size(2)
            .max_size(2)
            .build(Numbers)
            .await
            .unwrap();
        for _ in 0..10 {
            drop(pool.get().await.unwrap());
        }
        let before = allocations();
        for _ in 0..1000 {
            let a = pool.get().await.unwrap();
            let b = pool.get().await.unwrap();
            drop((a, b));
        }
        assert_eq!(allocations() - before, 0);
        // The counter does count.
        let before = allocations();
        let _boxed = Box::new(pool.get().await.unwrap());
        assert!(allocations() > before);
    });
}
