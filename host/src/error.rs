//! Showing an error to people: its own text followed by each cause's, as anyhow's `{:#}` does.
//! Our errors keep their cause as `source` and leave it out of their own text, so neither is
//! lost nor said twice.

use std::error::Error;

/// `outer: cause: cause's cause`.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        // An error that does repeat its cause's text (a foreign one) is not repeated again.
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "outer: disk full");
    }
}
