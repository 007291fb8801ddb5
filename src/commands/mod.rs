//! The subcommands behind the CLI: each turns parsed arguments into a run and a report.

pub mod bench;
pub mod bench_chain;
pub mod chain;
pub mod config_check;
pub mod demo;
pub mod export;
pub mod gen_corpus;
pub mod healthcheck;
pub mod ingest;
pub mod options;
pub mod replay;
pub mod run;
pub mod summary;
