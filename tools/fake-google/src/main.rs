//! `fake-google`: the command line of the fake Google services; see
//! `fake-google --help` and [`fake_google::cli`].

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    fake_google::cli::main(&args)
}
