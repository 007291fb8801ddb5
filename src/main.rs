//! The `gossip-sieve` command line: parses arguments and hands them to `commands`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use gossip_sieve::commands::ingest::IngestOptions;
use gossip_sieve::commands::summary::RunSummary;
use gossip_sieve::commands::{bench, demo, gen_corpus, replay};
use gossip_sieve::config::{default_shards, Network, PipelineConfig};
use gossip_sieve::pipeline::checks::unix_now;
use gossip_sieve::sim::corpus::CorpusSpec;

#[derive(Parser)]
#[command(
    name = "gossip-sieve",
    version,
    about = "Lightning gossip ingestion: dedup before verify"
)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `gossip_sieve=debug`.
    #[arg(long, global = true, default_value = "warn", env = "GOSSIP_SIEVE_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic, validly signed synthetic graph as a raw dump file.
    GenCorpus {
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        corpus: CorpusArgs,
    },
    /// Run dump files (raw or Core Lightning gossip_store, optionally .xz) through the pipeline.
    Replay {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Number of duplicate peers, each sending every file.
        #[arg(long, default_value_t = 1)]
        copies: usize,
        /// Accept gossip of any age (for historical dumps).
        #[arg(long)]
        historical: bool,
        /// Serve /metrics here while replaying.
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Flood the node from synthetic peers with a generated mainnet-sized graph.
    Demo {
        /// Synthetic peers, each sending the whole corpus.
        #[arg(long, default_value_t = 8)]
        peers: usize,
        #[arg(long, default_value = "127.0.0.1:9736")]
        metrics: SocketAddr,
        /// Where the generated corpus is cached between runs.
        #[arg(long, default_value_os_t = default_cache_dir())]
        cache_dir: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        corpus: CorpusArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Measure the pipeline against raw libsecp256k1 and time duplicate discards.
    Bench {
        #[command(flatten)]
        bench: BenchArgs,
        #[command(flatten)]
        corpus: CorpusArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

#[derive(Args, Clone)]
struct BenchArgs {
    /// Corpus to measure with (default: the generated one, cached like `demo`'s).
    #[arg(long)]
    corpus_file: Option<PathBuf>,
    /// Copies fed after the graph is complete, to time duplicate discards.
    #[arg(long, default_value_t = 4)]
    duplicate_copies: usize,
    /// Signatures sampled for the raw libsecp256k1 baseline.
    #[arg(long, default_value_t = 100_000)]
    raw_sample: usize,
    #[arg(long, default_value_os_t = default_cache_dir())]
    cache_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct CorpusArgs {
    #[arg(long, default_value_t = 17_000)]
    nodes: usize,
    #[arg(long, default_value_t = 54_000)]
    channels: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of extra invalid messages (bad signature, high-S, wrong chain, truncated, bad
    /// node order), 0..1.
    #[arg(long, default_value_t = 0.0)]
    invalid_rate: f64,
    /// Chain the corpus is generated for.
    #[arg(long = "corpus-network", value_enum, default_value_t = Network::Bitcoin)]
    corpus_network: Network,
}

impl CorpusArgs {
    fn spec(&self) -> CorpusSpec {
        CorpusSpec {
            nodes: self.nodes,
            channels: self.channels,
            seed: self.seed,
            invalid_rate: self.invalid_rate.clamp(0.0, 1.0),
            chain_hash: self.corpus_network.chain_hash(),
            now: unix_now(),
        }
    }
}

#[derive(Args, Clone)]
struct PipelineArgs {
    #[arg(long, value_enum, default_value_t = Network::Bitcoin, env = "GOSSIP_SIEVE_NETWORK")]
    network: Network,
    /// Verifier shards (default: one per core).
    #[arg(long, default_value_t = default_shards())]
    shards: usize,
    /// Admission capacity of each shard's mailbox.
    #[arg(long, default_value_t = 4096)]
    mailbox_capacity: usize,
    /// Milliseconds a peer waits for a full shard before the message is dropped as queue_full.
    #[arg(long, default_value_t = 10_000)]
    stall_timeout_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    pending_updates_cap: usize,
    #[arg(long, default_value_t = 10_000)]
    pending_node_announcements_cap: usize,
    #[arg(long, default_value_t = 100_000)]
    rejected_cache_cap: usize,
    #[arg(long, default_value_t = 50_000)]
    pubkey_cache_cap: usize,
    /// channel_update tokens per channel direction per minute (0: no limit; replay sets 0).
    #[arg(long, default_value_t = 1)]
    update_rate_per_minute: u32,
    /// channel_updates a channel direction may send back to back.
    #[arg(long, default_value_t = 10)]
    update_burst: u32,
}

impl PipelineArgs {
    fn config(&self, historical: bool) -> PipelineConfig {
        let defaults = PipelineConfig::default();
        PipelineConfig {
            network: self.network,
            shards: self.shards.max(1),
            shard_mailbox_capacity: self.mailbox_capacity.max(1),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms),
            pending_updates_cap: self.pending_updates_cap.max(1),
            pending_node_announcements_cap: self.pending_node_announcements_cap.max(1),
            rejected_cache_cap: self.rejected_cache_cap.max(1),
            pubkey_cache_cap: self.pubkey_cache_cap.max(1),
            max_age: if historical { None } else { defaults.max_age },
            // A historical dump carries many updates per direction read in seconds.
            update_rate_per_minute: if historical {
                0
            } else {
                self.update_rate_per_minute
            },
            update_burst: self.update_burst.max(1),
            ..defaults
        }
    }
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("gossip-sieve")
}

fn print_summary(summary: &RunSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        summary.print_text();
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::GenCorpus { out, corpus } => {
            let (stats, messages) = gen_corpus::write_corpus(&corpus.spec(), &out)?;
            println!("wrote {messages} messages to {}: {stats:?}", out.display());
        }
        Command::Replay {
            files,
            copies,
            historical,
            metrics,
            json,
            pipeline,
        } => {
            let summary = replay::run(replay::ReplayOptions {
                files,
                copies,
                ingest: IngestOptions {
                    config: pipeline.config(historical),
                    metrics_addr: metrics,
                    progress_total: None,
                },
            })?;
            print_summary(&summary, json)?;
        }
        Command::Demo {
            peers,
            metrics,
            cache_dir,
            json,
            corpus,
            pipeline,
        } => {
            let summary = demo::run(demo::DemoOptions {
                spec: CorpusSpec {
                    invalid_rate: if corpus.invalid_rate > 0.0 {
                        corpus.invalid_rate
                    } else {
                        // The demo shows every drop reason at work unless told otherwise.
                        0.01
                    },
                    ..corpus.spec()
                },
                peers,
                cache_dir,
                ingest: IngestOptions {
                    config: pipeline.config(false),
                    metrics_addr: Some(metrics),
                    progress_total: None,
                },
            })?;
            print_summary(&summary, json)?;
        }
        Command::Bench {
            bench,
            corpus,
            pipeline,
        } => {
            let path = match bench.corpus_file {
                Some(path) => path,
                None => demo::ensure_corpus(&corpus.spec(), &bench.cache_dir)?.0,
            };
            let report = bench::run(
                &path,
                bench::BenchOptions {
                    config: pipeline.config(false),
                    duplicate_copies: bench.duplicate_copies,
                    raw_sample: bench.raw_sample,
                },
            )?;
            if bench.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                report.print_text();
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
