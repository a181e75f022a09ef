# bash completion for alloydb-cred: command names only. To be replaced by the
# completions generated from the CLI definition (`alloydb-cred completions bash`).
complete -W "refresh token exec status remove help" alloydb-cred
