use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = alloydb_cred::cli::Cli::parse();
    alloydb_cred::main_with(cli).into()
}
