//! What a task's failure says: the message of its panic, for the logs and errors of
//! whoever owns the task (the pool's lanes and upchecks, the engine actor's worker).

use tokio::task::JoinError;

/// Why a task ended without its output: its panic's message when the payload is a string
/// (what `panic!` with a message gives), "a panic without a message" for any other payload,
/// or the error's own text when the task was cancelled rather than panicking.
pub fn task_failure(error: JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A static message, a formatted one, a payload that is not a string, and a cancelled
    /// task each give their own reason.
    #[tokio::test]
    async fn each_kind_of_failure_is_named() {
        let fixed = tokio::spawn(async { panic!("fixed message") }).await.unwrap_err();
        assert_eq!(task_failure(fixed), "fixed message");
        let n = 7;
        let formatted = tokio::spawn(async move { panic!("formatted {n}") }).await.unwrap_err();
        assert_eq!(task_failure(formatted), "formatted 7");
        let other = tokio::spawn(async { std::panic::panic_any(42u8) }).await.unwrap_err();
        assert_eq!(task_failure(other), "a panic without a message");
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let cancelled = task.await.unwrap_err();
        assert!(cancelled.is_cancelled());
        assert!(task_failure(cancelled).contains("cancelled"));
    }
}
