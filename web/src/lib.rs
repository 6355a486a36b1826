//! The admin console. Not built yet: see the README's status section.

/// The engine version the console links, shown in its footer.
pub fn engine_version() -> &'static str {
    classbridge_engine::ENGINE_VERSION
}
