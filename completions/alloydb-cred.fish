# fish completion for alloydb-cred: command names only. To be replaced by the
# completions generated from the CLI definition (`alloydb-cred completions fish`).
complete -c alloydb-cred -n __fish_use_subcommand -f -a "refresh token exec status remove help"
