//! `config check`: resolve the configuration exactly as a node would (flags, environment,
//! `--config` file, defaults), fail with the option at fault, or print the effective
//! configuration as a complete TOML file.

use super::chain::chain_config;
use crate::config::{FileConfig, Settings, SettingsArgs};

/// Resolves, checks that the chain source settings can work (a URL for a remote backend,
/// credentials for RPC), and renders; the text is itself a valid config file that resolves to
/// the same settings.
pub fn run(args: &SettingsArgs, file: &FileConfig) -> anyhow::Result<String> {
    let settings = Settings::resolve(args, file)?;
    chain_config(&settings.chain).validate()?;
    Ok(render(&settings))
}

pub fn render(settings: &Settings) -> String {
    format!(
        "# Effective gossip-sieve configuration (flag > GOSSIP_SIEVE_* env > file > default).\n{}",
        settings.to_file_config().to_toml()
    )
}
