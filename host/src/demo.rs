//! `classbridge demo`: a whole cycle against stand-ins on loopback.

pub async fn run(_serve: bool, _size: &str, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not built yet (issue 5)")
}
