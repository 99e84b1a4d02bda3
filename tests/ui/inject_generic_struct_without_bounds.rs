use portico::prelude::*;

#[inject]
struct Repo<T> {
    store: Dep<T>,
}

fn main() {}

#[inject]
struct Cache<K: Send + Sync + 'static, V>
where
    V: Send,
{
    keys: Dep<K>,
    values: Dep<V>,
}
