//! The call-log writer: a task that owns every call-log write, so call
//! routing never waits on the disk.
//!
//! The hub hands it [`Call`] rows over an unbounded channel (sending never
//! blocks, even under the switchboard lock). The task takes whatever is queued,
//! keeps the newest version of each call, and writes the lot in one
//! transaction. [`CallLogWriter::flush`] waits until everything sent before it
//! is on disk: HTTP call-log reads use it so a client sees its own calls, and
//! shutdown uses [`CallLogWriter::close`].

use super::Store;
use softphone_proto::Call;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Most messages taken into one transaction.
const MAX_BATCH: usize = 1024;
/// Attempts at writing one batch before it is given up (and logged).
const ATTEMPTS: u32 = 3;

enum Msg {
    Record(Call),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallLogWriter {
    tx: mpsc::UnboundedSender<Msg>,
}

impl CallLogWriter {
    /// Starts the writer task on `store`.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, rx));
        (Self { tx }, task)
    }

    /// Queues a call row. Never blocks; after [`CallLogWriter::close`] the
    /// row is dropped with a warning.
    pub fn record(&self, call: Call) {
        if let Err(mpsc::error::SendError(Msg::Record(call))) = self.tx.send(Msg::Record(call)) {
            tracing::warn!(session_id = %call.session_id, "call log closed; row not written");
        }
    }

    /// Waits until every row queued before this call is written.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Writes what is queued and stops the task.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut batch: Vec<Call> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut closing = false;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(msg) = next.take() {
            taken += 1;
            match msg {
                Msg::Record(call) => match index.get(&call.session_id) {
                    Some(&i) => batch[i] = call,
                    None => {
                        index.insert(call.session_id.clone(), batch.len());
                        batch.push(call);
                    }
                },
                Msg::Flush(ack) => acks.push(ack),
                Msg::Close(ack) => {
                    acks.push(ack);
                    closing = true;
                    break;
                }
            }
            if taken < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write(&store, &batch).await;
        batch.clear();
        index.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if closing {
            rx.close();
            break;
        }
    }
    tracing::debug!("call log writer stopped");
}

async fn write(store: &Store, batch: &[Call]) {
    if batch.is_empty() {
        return;
    }
    for attempt in 1..=ATTEMPTS {
        let started = std::time::Instant::now();
        match store.save_calls(batch).await {
            Ok(()) => {
                tracing::debug!(
                    calls = batch.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "call log batch written"
                );
                return;
            }
            Err(err) if attempt < ATTEMPTS => {
                tracing::warn!(%err, attempt, "writing the call log failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(err) => {
                let ids: Vec<&str> = batch.iter().map(|c| c.session_id.as_str()).collect();
                tracing::error!(%err, ?ids, "writing the call log failed; these calls were not stored");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use softphone_proto::{CallStatus, CallType, ReceiverType};

    #[tokio::test]
    async fn rows_are_written_newest_version_wins_and_close_flushes() {
        let (store, _dir) = temp_store().await;
        let (writer, task) = CallLogWriter::spawn(store.clone());
        let mut call = softphone_proto::Call::new("bob", CallType::Audio, ReceiverType::User);
        call.session_id = "s1".into();
        call.initiator = "alice".into();
        writer.record(call.clone());
        writer.flush().await;
        assert_eq!(
            store.call("s1").await.expect("get").map(|c| c.status),
            Some(CallStatus::Initiated)
        );
        call.status = CallStatus::Ongoing;
        writer.record(call.clone());
        call.status = CallStatus::Ended;
        writer.record(call.clone());
        writer.close().await;
        task.await.expect("writer task");
        assert_eq!(store.call("s1").await.expect("get"), Some(call.clone()));
        // After close, rows are dropped rather than blocking.
        writer.record(call);
        writer.flush().await;
    }
}
