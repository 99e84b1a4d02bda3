use portico::prelude::*;

#[inject]
struct Cache<K: Send + Sync + 'static, V>
where
    V: Send,
{
    keys: Dep<K>,
    values: Dep<V>,
}

fn main() {}
