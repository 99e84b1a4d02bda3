//! Tasks in this process's memory: the same contract as the SQL backends,
//! lost with the process.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Maps keyed by ids and names the process made: no need for SipHash's
/// defence against chosen keys.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

use super::backend::{Claimed, NewTask, Outcome, QueueBackend, QueueFuture};
use super::{QueueStats, TaskId, TaskRecord, TaskStatus, millis, now_ms};

/// Tasks in memory. Claims take the due tasks in order from an index, so
/// a claim costs the tasks it takes, not the tasks waiting.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    tasks: Tasks,
    /// Unique keys of unfinished tasks.
    unique: HashMap<String, TaskId>,
    /// Periods already enqueued, per schedule.
    periods: HashSet<(String, i64)>,
    queues: HashMap<String, Index>,
}

/// Records by id. Ids are handed out in order, so records sit in a deque
/// at `id - first`: a lookup is an index, not a hash probe into a table of
/// every record kept (which was most of a claim's time); purged records
/// leave holes, trimmed from the front.
#[derive(Debug, Default)]
struct Tasks {
    first: i64,
    slots: std::collections::VecDeque<Option<Entry>>,
    len: usize,
}

impl Tasks {
    fn slot(&self, id: &TaskId) -> Option<usize> {
        usize::try_from(id.0.checked_sub(self.first)?).ok()
    }

    fn get(&self, id: &TaskId) -> Option<&Entry> {
        self.slots.get(self.slot(id)?)?.as_ref()
    }

    fn get_mut(&mut self, id: &TaskId) -> Option<&mut Entry> {
        let slot = self.slot(id)?;
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Stores the record of the next id.
    fn push(&mut self, id: TaskId, entry: Entry) {
        if self.slots.is_empty() {
            self.first = id.0;
        }
        self.slots.push_back(Some(entry));
        self.len += 1;
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Keeps the records `keep` says to keep.
    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|entry| !keep(entry)) {
                *slot = None;
                self.len -= 1;
            }
        }
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
    }
}

/// One queue's tasks by what they wait for.
#[derive(Debug, Default)]
struct Index {
    /// Pending and due: (priority, run_at, id).
    due: BTreeSet<(i32, i64, TaskId)>,
    /// Pending, not yet due: (run_at, id).
    later: BTreeSet<(i64, TaskId)>,
    /// Running: (lease end, id).
    leased: BTreeSet<(i64, TaskId)>,
}

#[derive(Debug)]
struct Entry {
    record: TaskRecord,
    payload: String,
    priority: i32,
    timeout_ms: i64,
    lease_until: i64,
    trace: Option<String>,
}

impl MemoryBackend {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn ready<T>(value: T) -> QueueFuture<'static, T>
where
    T: Send + 'static,
{
    Box::pin(std::future::ready(Ok(value)))
}

impl State {
    fn index(&mut self, queue: &str) -> &mut Index {
        if !self.queues.contains_key(queue) {
            self.queues.insert(queue.to_owned(), Index::default());
        }
        self.queues.get_mut(queue).expect("just inserted")
    }

    fn insert(&mut self, task: NewTask) -> TaskId {
        if let Some(id) = task.unique_key().and_then(|key| self.unique.get(key)) {
            return *id;
        }
        self.next_id += 1;
        let id = TaskId(self.next_id);
        let (run_at, priority, timeout_ms) = (task.run_at(), task.priority(), task.timeout_ms());
        let entry = Entry {
            record: TaskRecord {
                id,
                name: task.name.to_owned(),
                queue: task.queue().to_owned(),
                status: TaskStatus::Pending,
                attempts: 0,
                max_attempts: task.max_attempts(),
                payload: serde_json::Value::Null,
                result: None,
                error: None,
                unique_key: task.unique_key().map(str::to_owned),
                created_at: task.created_at,
                run_at,
                started_at: None,
                finished_at: None,
            },
            payload: task.payload,
            priority,
            timeout_ms,
            lease_until: 0,
            trace: task.trace,
        };
        if let Some(key) = &entry.record.unique_key {
            self.unique.insert(key.clone(), id);
        }
        let queue = entry.record.queue.clone();
        self.tasks.push(id, entry);
        self.schedule(&queue, id, priority, run_at);
        id
    }

    /// Files a pending task under when it may run.
    fn schedule(&mut self, queue: &str, id: TaskId, priority: i32, run_at: i64) {
        let index = self.index(queue);
        if run_at <= now_ms() {
            index.due.insert((priority, run_at, id));
        } else {
            index.later.insert((run_at, id));
        }
    }

    /// Takes a task out of whichever index holds it.
    fn unindex(&mut self, id: TaskId) {
        let Some(entry) = self.tasks.get(&id) else {
            return;
        };
        let Some(index) = self.queues.get_mut(entry.record.queue.as_str()) else {
            return;
        };
        let run_at = entry.record.run_at;
        // Only the index of its state can hold it.
        if entry.record.status == TaskStatus::Running {
            index.leased.remove(&(entry.lease_until, id));
        } else if !index.due.remove(&(entry.priority, run_at, id)) {
            index.later.remove(&(run_at, id));
        }
    }

    /// Ends a task: its unique key is free again.
    fn finish(&mut self, id: TaskId, status: TaskStatus, now: i64) {
        self.unindex(id);
        if let Some(entry) = self.tasks.get_mut(&id) {
            entry.record.status = status;
            entry.record.finished_at = Some(now);
            if let Some(key) = &entry.record.unique_key
                && self.unique.get(key) == Some(&id)
            {
                self.unique.remove(key);
            }
        }
    }

    /// Whether attempt `attempt` still owns task `id`.
    fn owns(&self, id: TaskId, attempt: u32) -> bool {
        self.tasks
            .get(&id)
            .is_some_and(|e| e.record.status == TaskStatus::Running && e.record.attempts == attempt)
    }

    fn claim(&mut self, queue: &str, limit: usize, lease: Duration) -> Vec<Claimed> {
        let now = now_ms();
        let index = self.index(queue);
        // Tasks whose time came, and tasks whose worker's lease lapsed
        // (each looked for only when the earliest says there are some).
        let due: Vec<(i64, TaskId)> = match index.later.first() {
            Some(&(run_at, _)) if run_at <= now => {
                index.later.range(..(now + 1, TaskId(0))).copied().collect()
            }
            _ => Vec::new(),
        };
        let lapsed: Vec<(i64, TaskId)> = match index.leased.first() {
            Some(&(until, _)) if until < now => {
                index.leased.range(..(now, TaskId(0))).copied().collect()
            }
            _ => Vec::new(),
        };
        for (run_at, id) in due {
            self.index(queue).later.remove(&(run_at, id));
            let priority = self.tasks.get(&id).map_or(0, |e| e.priority);
            self.index(queue).due.insert((priority, run_at, id));
        }
        for (lease_until, id) in lapsed {
            self.index(queue).leased.remove(&(lease_until, id));
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            if entry.record.attempts >= entry.record.max_attempts {
                entry.record.error = Some("its worker stopped during the last attempt".into());
                self.finish(id, TaskStatus::Failed, now);
            } else {
                entry.record.status = TaskStatus::Pending;
                let (priority, run_at) = (entry.priority, entry.record.run_at);
                self.index(queue).due.insert((priority, run_at, id));
            }
        }
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let Some(first) = self.index(queue).due.pop_first() else {
                break;
            };
            let id = first.2;
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            entry.record.status = TaskStatus::Running;
            entry.record.attempts += 1;
            entry.record.started_at = Some(now);
            entry.lease_until = now.saturating_add(millis(lease));
            claimed.push(Claimed {
                id,
                name: entry.record.name.clone(),
                payload: entry.payload.clone(),
                attempt: entry.record.attempts,
                max_attempts: entry.record.max_attempts,
                timeout: Duration::from_millis(u64::try_from(entry.timeout_ms).unwrap_or(0)),
                trace: entry.trace.clone(),
            });
            let until = entry.lease_until;
            self.index(queue).leased.insert((until, id));
        }
        claimed
    }
}

impl QueueBackend for MemoryBackend {
    fn enqueue(&self, task: NewTask) -> QueueFuture<'_, TaskId> {
        ready(self.lock().insert(task))
    }

    fn claim<'a>(
        &'a self,
        queue: &'a str,
        limit: usize,
        lease: Duration,
    ) -> QueueFuture<'a, Vec<Claimed>> {
        ready(self.lock().claim(queue, limit, lease))
    }

    fn heartbeat<'a>(
        &'a self,
        claims: &'a [(TaskId, u32)],
        lease: Duration,
    ) -> QueueFuture<'a, Vec<TaskId>> {
        let mut state = self.lock();
        let until = now_ms().saturating_add(millis(lease));
        let mut lost = Vec::new();
        for &(id, attempt) in claims {
            if !state.owns(id, attempt) {
                lost.push(id);
                continue;
            }
            state.unindex(id);
            let queue = match state.tasks.get_mut(&id) {
                Some(entry) => {
                    entry.lease_until = until;
                    entry.record.queue.clone()
                }
                None => continue,
            };
            state.index(&queue).leased.insert((until, id));
        }
        ready(lost)
    }

    fn complete<'a>(&'a self, outcomes: &'a [(TaskId, u32, Outcome)]) -> QueueFuture<'a, ()> {
        let mut state = self.lock();
        let now = now_ms();
        for (id, attempt, outcome) in outcomes {
            if !state.owns(*id, *attempt) {
                continue;
            }
            match outcome {
                Outcome::Done(result) => {
                    if let Some(entry) = state.tasks.get_mut(id) {
                        entry.record.result = serde_json::from_str(result).ok();
                        entry.record.error = None;
                    }
                    state.finish(*id, TaskStatus::Done, now);
                }
                Outcome::Failed(error) => {
                    if let Some(entry) = state.tasks.get_mut(id) {
                        entry.record.error = Some(error.clone());
                    }
                    state.finish(*id, TaskStatus::Failed, now);
                }
                Outcome::Retry { error, at } => {
                    state.unindex(*id);
                    let Some(entry) = state.tasks.get_mut(id) else {
                        continue;
                    };
                    entry.record.error = Some(error.clone());
                    entry.record.status = TaskStatus::Pending;
                    entry.record.run_at = *at;
                    let (queue, priority) = (entry.record.queue.clone(), entry.priority);
                    state.schedule(&queue, *id, priority, *at);
                }
            }
        }
        ready(())
    }

    fn release<'a>(&'a self, claims: &'a [(TaskId, u32)]) -> QueueFuture<'a, ()> {
        let mut state = self.lock();
        for &(id, attempt) in claims {
            if !state.owns(id, attempt) {
                continue;
            }
            state.unindex(id);
            let Some(entry) = state.tasks.get_mut(&id) else {
                continue;
            };
            entry.record.status = TaskStatus::Pending;
            let (queue, priority, run_at) = (
                entry.record.queue.clone(),
                entry.priority,
                entry.record.run_at,
            );
            state.index(&queue).due.insert((priority, run_at, id));
        }
        ready(())
    }

    fn status(&self, id: TaskId) -> QueueFuture<'_, Option<TaskRecord>> {
        let state = self.lock();
        let record = state.tasks.get(&id).map(|entry| {
            let mut record = entry.record.clone();
            record.payload = serde_json::from_str(&entry.payload).unwrap_or_default();
            if record.status == TaskStatus::Pending && record.run_at > now_ms() {
                record.status = TaskStatus::Scheduled;
            }
            record
        });
        ready(record)
    }

    fn cancel(&self, id: TaskId) -> QueueFuture<'_, bool> {
        let mut state = self.lock();
        let unfinished = state
            .tasks
            .get(&id)
            .is_some_and(|e| matches!(e.record.status, TaskStatus::Pending | TaskStatus::Running));
        if unfinished {
            state.finish(id, TaskStatus::Cancelled, now_ms());
        }
        ready(unfinished)
    }

    fn retry(&self, id: TaskId) -> QueueFuture<'_, bool> {
        let mut state = self.lock();
        let failed = state
            .tasks
            .get(&id)
            .is_some_and(|e| e.record.status == TaskStatus::Failed);
        if failed && let Some(entry) = state.tasks.get_mut(&id) {
            let now = now_ms();
            entry.record.status = TaskStatus::Pending;
            entry.record.max_attempts = entry
                .record
                .attempts
                .saturating_add(entry.record.max_attempts.max(1));
            entry.record.run_at = now;
            entry.record.finished_at = None;
            let (queue, priority) = (entry.record.queue.clone(), entry.priority);
            if let Some(key) = entry.record.unique_key.clone() {
                state.unique.insert(key, id);
            }
            state.schedule(&queue, id, priority, now);
        }
        ready(failed)
    }

    fn enqueue_period<'a>(
        &'a self,
        schedule: &'a str,
        period: i64,
        task: NewTask,
    ) -> QueueFuture<'a, Option<TaskId>> {
        let mut state = self.lock();
        let first = state.periods.insert((schedule.to_owned(), period));
        ready(first.then(|| state.insert(task)))
    }

    fn stats(&self) -> QueueFuture<'_, QueueStats> {
        let state = self.lock();
        let now = now_ms();
        let mut stats = QueueStats::default();
        for entry in state.tasks.values() {
            let record = &entry.record;
            match record.status {
                TaskStatus::Pending if record.run_at > now => stats.scheduled += 1,
                TaskStatus::Pending | TaskStatus::Scheduled => {
                    stats.pending += 1;
                    let waited = u64::try_from(now - record.run_at).unwrap_or(0);
                    stats.oldest_pending_ms =
                        Some(stats.oldest_pending_ms.map_or(waited, |w| w.max(waited)));
                }
                TaskStatus::Running => stats.running += 1,
                TaskStatus::Done => stats.done += 1,
                TaskStatus::Failed => stats.failed += 1,
                TaskStatus::Cancelled => stats.cancelled += 1,
            }
        }
        ready(stats)
    }

    fn depth(&self) -> QueueFuture<'_, u64> {
        let state = self.lock();
        let depth = state
            .queues
            .values()
            .map(|index| index.due.len() + index.later.len() + index.leased.len())
            .sum::<usize>();
        ready(depth as u64)
    }

    fn purge(&self, done_before: i64, failed_before: i64) -> QueueFuture<'_, u64> {
        let mut state = self.lock();
        let before = state.tasks.len();
        state.tasks.retain(|entry| {
            let cutoff = match entry.record.status {
                TaskStatus::Done | TaskStatus::Cancelled => done_before,
                TaskStatus::Failed => failed_before,
                _ => return true,
            };
            entry.record.finished_at.is_none_or(|at| at >= cutoff)
        });
        // A period older than the retention can no longer come round again.
        state.periods.retain(|(_, period)| *period >= done_before);
        ready((before - state.tasks.len()) as u64)
    }
}
