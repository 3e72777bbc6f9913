//! The unwind guard: a panic must never unwind into Envoy (undefined
//! behaviour, and in practice the whole proxy goes down). Every hook in `abi`
//! runs its body through [`caught`], which catches the panic, reports it and
//! returns the hook's safe default. This needs the native build to unwind: the
//! release profile keeps Rust's default `panic = "unwind"` (see Cargo.toml).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs a hook body; a panic is caught, reported with `report`, and
/// `default` returned.
pub(crate) fn caught<T>(hook: &str, default: T, body: impl FnOnce() -> T, report: impl FnOnce(&str)) -> T {
    match catch(hook, body) {
        Ok(value) => value,
        Err(line) => {
            // Reporting can panic only if formatting does: guard that too.
            let _ = catch_unwind(AssertUnwindSafe(|| report(&line)));
            default
        }
    }
}

/// Runs a hook body; a panic is caught and comes back as the line that
/// reports it (`cors: panic in <hook>, caught: <message>`), for a hook that
/// must do more than return a default (`fail_closed`).
pub(crate) fn catch<T>(hook: &str, body: impl FnOnce() -> T) -> Result<T, String> {
    // The state a panic leaves behind is never unsafe to touch (no unsafe
    // code runs inside the bodies but these calls), at worst a stream
    // forgets what it decided: `fail_closed` then refuses it.
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        format!("cors: panic in {hook}, caught: {message}")
    })
}

#[cfg(test)]
mod tests {
    use super::caught;

    #[test]
    fn a_panicking_hook_returns_its_default_and_reports_the_message() {
        let mut reported = String::new();
        let got = caught(
            "on_test",
            7,
            || -> i32 { panic!("boom {}", 1) },
            |line| reported = line.to_owned(),
        );
        assert_eq!(got, 7);
        assert_eq!(reported, "cors: panic in on_test, caught: boom 1");
    }

    #[test]
    fn a_panic_while_reporting_is_caught_too() {
        let got = caught("on_test", 1, || -> i32 { panic!("first") }, |_| panic!("second"));
        assert_eq!(got, 1);
    }

    #[test]
    fn a_hook_that_does_not_panic_returns_its_value() {
        assert_eq!(caught("on_test", 0, || 42, |_| unreachable!()), 42);
    }
}
