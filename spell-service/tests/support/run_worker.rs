//! Running a worker in a test's runtime until the test says stop.

use spell_service::{ServiceError, Worker, WorkerStats};

pub type Run = tokio::task::JoinHandle<Result<WorkerStats, ServiceError>>;

/// Runs `worker` until the returned sender fires.
pub fn spawn_run(worker: &Worker) -> (tokio::sync::oneshot::Sender<()>, Run) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    (stop, run)
}
