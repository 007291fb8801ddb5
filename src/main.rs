//! The `gossip-sieve` command line: parses arguments and hands them to `commands`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use gossip_sieve::clock::unix_now;
use gossip_sieve::commands::ingest::IngestOptions;
use gossip_sieve::commands::options::Input;
use gossip_sieve::commands::run as run_node;
use gossip_sieve::commands::summary::RunSummary;
use gossip_sieve::commands::{
    bench, bench_chain, config_check, demo, export, gen_corpus, healthcheck, options, replay,
};
use gossip_sieve::config::{
    FileConfig, LogArgs, LogSettings, Network, NodeArgs, PipelineArgs, PipelineConfig, Settings,
    SettingsArgs,
};
use gossip_sieve::sim::corpus::CorpusSpec;

#[derive(Parser)]
#[command(
    name = "gossip-sieve",
    version,
    about = "Lightning gossip ingestion: dedup before verify"
)]
struct Cli {
    /// TOML config file; flags and GOSSIP_SIEVE_* variables override it.
    #[arg(long, global = true, env = "GOSSIP_SIEVE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic, validly signed synthetic graph as a raw dump file.
    GenCorpus {
        #[arg(long)]
        out: PathBuf,
        /// Also write the chain that backs the corpus here (every channel's funding output at
        /// its short_channel_id, six deep), and append fabricated announcements (validly
        /// signed; funding missing, wrong script or spent) to the corpus.
        #[arg(long, value_name = "FILE")]
        chain_out: Option<PathBuf>,
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
        /// Accept gossip of any age and turn off the channel_update rate limit (for historical
        /// dumps; see `commands::options`).
        #[arg(long)]
        historical: bool,
        /// Serve /metrics here while replaying.
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Persist accepted gossip to DIR/gossip_store (Core Lightning format) and, on the
        /// next run, load it back without verifying signatures again.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        hold: HoldArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Flood the node from synthetic peers with a generated mainnet-sized graph.
    Demo {
        /// Synthetic peers, each sending the whole corpus.
        #[arg(long, default_value_t = 8)]
        peers: usize,
        /// Serve /metrics here [env: GOSSIP_SIEVE_METRICS; default 127.0.0.1:9736].
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Where the generated corpus is cached between runs.
        #[arg(long, default_value_os_t = default_cache_dir())]
        cache_dir: PathBuf,
        /// Skip funding validation (no in-process chain): for comparing throughput.
        #[arg(long)]
        no_chain: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        hold: HoldArgs,
        #[command(flatten)]
        corpus: CorpusArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Run as a Lightning peer: accept and dial BOLT 8 peers and ingest their gossip. Prints
    /// `node_id`, `metrics` and `listening` lines (bound addresses; port 0 is allowed).
    Run {
        /// Accept gossip of any age (the channel_update rate limit stays on for live peers;
        /// see `commands::options`).
        #[arg(long)]
        historical: bool,
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Exit 0 when the node's /healthz answers 200 (the container HEALTHCHECK; needs no curl).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9736/healthz")]
        url: String,
        #[arg(long, default_value_t = 4_000)]
        timeout_ms: u64,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Measure chain validation: demo throughput with ÷ without the in-process chain source,
    /// and a flood of fabricated validly signed announcements (channels added, RSS).
    BenchChain {
        /// Synthetic peers, each sending the whole corpus.
        #[arg(long, default_value_t = 8)]
        peers: usize,
        /// Runs of each kind, interleaved (the best of each is compared); 0: the flood only.
        #[arg(long, default_value_t = 2)]
        runs: usize,
        /// Fabricated announcements in the flood; 0: the throughput runs only.
        #[arg(long, default_value_t = 100_000)]
        fabricated: usize,
        #[arg(long, default_value_os_t = default_cache_dir())]
        cache_dir: PathBuf,
        #[command(flatten)]
        corpus: CorpusArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Write a store's graph as LND describegraph JSON, Core Lightning listnodes/listchannels
    /// JSON, or an lnresearch topology dump (gsp), optionally as it stood at a past time.
    Export {
        /// Data directory holding gossip_store, or a store file.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        /// lnd-json, cln-json, gsp, rgs-v1 or rgs-v2.
        #[arg(long = "format", id = "export_format", value_enum)]
        export_format: export::ExportFormat,
        /// Unix time: the graph as it stood then, from the superseded records the store keeps
        /// (exact back to the store's last compaction).
        #[arg(long, value_name = "TIMESTAMP")]
        at: Option<u32>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Chain an RGS snapshot names.
        #[arg(long, value_enum, default_value = "bitcoin")]
        network: gossip_sieve::config::Network,
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file from --config, environment, flags) and print the
    /// effective result as TOML.
    Check {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

/// Keeping /metrics up around a finite run, so Prometheus can scrape it.
#[derive(Args, Clone)]
struct HoldArgs {
    /// Seconds to serve /metrics before the first message (a scraper records the baseline).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    warmup: u64,
    /// Seconds to keep serving /metrics after the run.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    linger: u64,
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

/// The pipeline part of the resolved configuration (flag > env > `--config` file > default),
/// with `--historical` applied by [`options::pipeline_config`].
fn pipeline_config(
    pipeline: &PipelineArgs,
    file: &FileConfig,
    historical: bool,
    input: Input,
) -> anyhow::Result<PipelineConfig> {
    let settings = resolve(NodeArgs::default(), pipeline, file)?;
    Ok(options::pipeline_config(&settings, historical, input))
}

fn resolve(node: NodeArgs, pipeline: &PipelineArgs, file: &FileConfig) -> anyhow::Result<Settings> {
    let args = SettingsArgs {
        node,
        pipeline: pipeline.clone(),
        log: LogArgs::default(),
    };
    Ok(Settings::resolve(&args, file)?)
}

/// The corpus the demo (and `bench-chain`) floods with: 1% invalid copies unless told otherwise,
/// so that every drop reason is at work.
fn demo_spec(corpus: &CorpusArgs) -> CorpusSpec {
    CorpusSpec {
        invalid_rate: if corpus.invalid_rate > 0.0 {
            corpus.invalid_rate
        } else {
            0.01
        },
        ..corpus.spec()
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

fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::GenCorpus {
            out,
            chain_out,
            corpus,
        } => match chain_out {
            None => {
                let (stats, messages) = gen_corpus::write_corpus(&corpus.spec(), &out)?;
                println!("wrote {messages} messages to {}: {stats:?}", out.display());
            }
            Some(chain_out) => {
                let written =
                    gen_corpus::write_corpus_with_chain(&corpus.spec(), &out, &chain_out)?;
                println!(
                    "wrote {} messages ({} fabricated) to {} and the chain (tip {}) to {}: {:?}",
                    written.messages,
                    written.fabricated,
                    out.display(),
                    written.tip_height,
                    chain_out.display(),
                    written.stats
                );
            }
        },
        Command::Replay {
            files,
            copies,
            historical,
            metrics,
            json,
            data_dir,
            hold,
            pipeline,
        } => {
            let summary = replay::run(replay::ReplayOptions {
                files,
                copies,
                ingest: IngestOptions {
                    config: pipeline_config(&pipeline, &file, historical, Input::Dump)?,
                    metrics_addr: metrics,
                    progress_total: None,
                    data_dir,
                    warmup: Duration::from_secs(hold.warmup),
                    linger: Duration::from_secs(hold.linger),
                },
            })?;
            print_summary(&summary, json)?;
        }
        Command::Demo {
            peers,
            metrics,
            cache_dir,
            no_chain,
            json,
            hold,
            corpus,
            pipeline,
        } => {
            let node = NodeArgs {
                metrics,
                ..NodeArgs::default()
            };
            let settings = resolve(node, &pipeline, &file)?;
            let summary = demo::run(demo::DemoOptions {
                spec: demo_spec(&corpus),
                peers,
                cache_dir,
                chain: (!no_chain).then(|| settings.chain.clone()),
                ingest: IngestOptions {
                    config: options::pipeline_config(&settings, false, Input::LivePeers),
                    metrics_addr: Some(settings.metrics),
                    progress_total: None,
                    data_dir: None,
                    warmup: Duration::from_secs(hold.warmup),
                    linger: Duration::from_secs(hold.linger),
                },
            })?;
            print_summary(&summary, json)?;
        }
        Command::Run {
            historical,
            node,
            pipeline,
        } => {
            let settings = resolve(node, &pipeline, &file)?;
            run_node::run(options::run_options(&settings, historical))?;
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
                    config: pipeline_config(&pipeline, &file, false, Input::Dump)?,
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
        Command::BenchChain {
            peers,
            runs,
            fabricated,
            cache_dir,
            corpus,
            pipeline,
        } => {
            let settings = resolve(NodeArgs::default(), &pipeline, &file)?;
            let report = bench_chain::run(bench_chain::BenchChainOptions {
                spec: demo_spec(&corpus),
                peers,
                runs,
                fabricated,
                cache_dir,
                pipeline: options::pipeline_config(&settings, false, Input::LivePeers),
                chain: settings.chain.clone(),
            })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Export {
            store,
            export_format,
            at,
            out,
            network,
        } => export::run(export::ExportOptions {
            store,
            format: export_format,
            at,
            out,
            chain_hash: network.chain_hash(),
        })?,
        Command::Healthcheck { url, timeout_ms } => {
            healthcheck::run(&url, Duration::from_millis(timeout_ms.max(1)))?;
        }
        Command::Config {
            command: ConfigCommand::Check { node, pipeline },
        } => {
            let args = SettingsArgs {
                node,
                pipeline,
                log: cli.log,
            };
            print!("{}", config_check::run(&args, &file)?);
        }
    }
    Ok(())
}

/// Loads the config file and starts logging: both come before any subcommand runs.
fn setup(cli: &Cli) -> anyhow::Result<FileConfig> {
    let file = FileConfig::load_optional(cli.config.as_deref())?;
    let log = LogSettings::resolve(&cli.log, &file.log, &|var| std::env::var(var).ok())?;
    gossip_sieve::logging::init(&log)?;
    Ok(file)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = setup(&cli).and_then(|file| run(cli, file));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
