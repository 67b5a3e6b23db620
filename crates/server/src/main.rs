//! `softphone-server`: the signaling server's command line. All of it lives
//! in `cli.rs`; the server itself is the `softphone_server` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
