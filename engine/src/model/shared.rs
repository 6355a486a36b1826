//! `Shared`: an immutable string whose text is stored once however many records carry it.
//!
//! A district repeats the same few strings hundreds of thousands of times: every enrollment
//! names its class, school, user and role, every record its dateLastModified, every exported
//! result its lineItem. As `String`s each is an allocation of its own; as `Shared`s read inside
//! [`interning`], equal strings point at one allocation, and copying a record (as merging
//! sources does) copies pointers, not text.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string shared by every record that holds it (ids repeat across a district's records).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Shared(Arc<str>);

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Shared {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

thread_local! {
    /// The strings seen in the current [`interning`] scope; `None` outside any scope. Fx
    /// hashing: the keys are short ids and dates, looked up once per field read, and SipHash's
    /// resistance to chosen keys buys nothing for a pool that lives one run.
    static POOL: RefCell<Option<FxHashSet<Arc<str>>>> = const { RefCell::new(None) };
}

/// Runs `f` with a pool of strings, so every `Shared` made inside it (by deserialising or by
/// `Shared::from`) shares its text with equal ones. The pool is dropped when the outermost
/// scope ends; the strings live on in whatever still holds them. Scopes nest.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub fn interning<T>(f: impl FnOnce() -> T) -> T {
    let outermost = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let outermost = pool.is_none();
        pool.get_or_insert_with(FxHashSet::default);
        outermost
    });
    // Dropping the pool even if `f` panics keeps a later run from inheriting it.
    struct EndScope(bool);
    impl Drop for EndScope {
        fn drop(&mut self) {
            if self.0 {
                POOL.with(|p| p.borrow_mut().take());
            }
        }
    }
    let _end = EndScope(outermost);
    f()
}

/// A string pool kept between calls: a streaming session reads its records over many calls,
/// and they should share strings as records read in one call do.
pub(crate) type Pool = Option<FxHashSet<Arc<str>>>;

/// Runs `f` with `pool` as the current pool (made on first use), then takes it back, leaving
/// whatever pool the caller had in place.
pub(crate) fn with_pool<T>(pool: &mut Pool, f: impl FnOnce() -> T) -> T {
    let ours = pool.take().or_else(|| Some(FxHashSet::default()));
    let theirs = POOL.with(|p| std::mem::replace(&mut *p.borrow_mut(), ours));
    struct Restore<'a>(&'a mut Pool, Pool);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let back = self.1.take();
            *self.0 = POOL.with(|p| std::mem::replace(&mut *p.borrow_mut(), back));
        }
    }
    let _restore = Restore(pool, theirs);
    f()
}

impl Shared {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn pooled(text: &str) -> Shared {
        POOL.with(|p| match p.borrow_mut().as_mut() {
            Some(pool) => match pool.get(text) {
                Some(found) => Shared(Arc::clone(found)),
                None => {
                    let new: Arc<str> = Arc::from(text);
                    pool.insert(Arc::clone(&new));
                    Shared(new)
                }
            },
            None => Shared(Arc::from(text)),
        })
    }
}

impl Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Shared {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Shared {
    fn from(text: &str) -> Self {
        Shared::pooled(text)
    }
}

impl From<String> for Shared {
    fn from(text: String) -> Self {
        Shared::pooled(&text)
    }
}

impl From<&String> for Shared {
    fn from(text: &String) -> Self {
        Shared::pooled(text)
    }
}

impl From<Shared> for String {
    fn from(shared: Shared) -> Self {
        shared.0.to_string()
    }
}

impl PartialEq<str> for Shared {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Shared {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Shared {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Shared> for String {
    fn eq(&self, other: &Shared) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Shared> for &str {
    fn eq(&self, other: &Shared) -> bool {
        **self == *other.0
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Shared {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Shared;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Shared, E> {
                Ok(Shared::pooled(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_text(a: &Shared, b: &Shared) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    #[test]
    fn equal_strings_share_their_text_inside_a_scope() {
        let (a, b, c): (Shared, Shared, Shared) = interning(|| {
            let a: Shared = serde_json::from_str("\"cls-1\"").expect("a string");
            let b = Shared::from(String::from("cls-1"));
            (a, b, Shared::from("cls-2"))
        });
        assert!(same_text(&a, &b));
        assert!(!same_text(&a, &c));
        assert_eq!(a, "cls-1");
        assert_eq!(serde_json::to_string(&a).expect("text"), "\"cls-1\"");
    }

    #[test]
    fn outside_a_scope_nothing_is_pooled_and_the_pool_ends_with_its_scope() {
        let a = Shared::from("x");
        let b = Shared::from("x");
        assert!(!same_text(&a, &b));
        let inside = interning(|| interning(|| Shared::from("y")));
        let again = interning(|| Shared::from("y"));
        assert!(
            !same_text(&inside, &again),
            "each outermost scope starts empty"
        );
        assert_eq!(inside, again);
    }

    #[test]
    fn escaped_strings_are_read_as_text() {
        let a: Shared = serde_json::from_str(r#""a\"b\u00e9""#).expect("a string");
        assert_eq!(a.as_str(), "a\"bé");
        assert!(serde_json::from_str::<Shared>("3").is_err());
    }
}
