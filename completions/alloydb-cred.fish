# The configured services, from the configuration the command line would use:
# `--config FILE` or `--config=FILE`, `~/` expanded.
function __fish_alloydb_cred_services
    set -l tokens (commandline -opc)
    set -l config
    set -l next 0
    for token in $tokens[2..-1]
        if test $next = 1
            set config --config $token
            set next 0
        else if test "$token" = --config
            set next 1
        else if string match -q -- '--config=*' $token
            set config --config (string replace -- '--config=' '' $token)
        end
    end
    if set -q config[2]
        set config[2] (string replace -r -- '^~(?=/|$)' $HOME $config[2])
    end
    $tokens[1] $config __services 2>/dev/null
end

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_alloydb_cred_global_optspecs
    string join \n config= v/verbose q/quiet h/help V/version
end

function __fish_alloydb_cred_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_alloydb_cred_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_alloydb_cred_using_subcommand
    set -l cmd (__fish_alloydb_cred_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "refresh" -d 'Make the entries of every (or the named) service valid'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "token" -d 'Print a valid token for a service on stdout, and nothing else'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "exec" -d 'Run a command with PGSERVICE, PGSERVICEFILE and PGPASSFILE set for a service'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "status" -d 'Show each service\'s user, host, expiry, time left, token breadth and last error, never its token'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "doctor" -d 'Find every reason a login would fail, before anyone tries'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "add" -d 'Add a service to the configuration, then refresh it and check it as `doctor` does'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "discover" -d 'List the AlloyDB and Cloud SQL for PostgreSQL instances a credential can see, with the `add` command for each'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "export" -d 'Print connection entries for a GUI client, from the sections `refresh` wrote'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "man" -d 'Print a manual page on stdout, for installs that come without them'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "__services" -d 'The configured services\' names, one a line, for the completion scripts: nothing (and exit 0) when the configuration cannot be read'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "completions" -d 'Print a shell completion script on stdout'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "remove" -d 'Delete the entries and sections alloydb-cred manages, and nothing else'
complete -c alloydb-cred -n "__fish_alloydb_cred_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -l service -d 'Only this service (repeatable). Default: every configured service' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -l force -d 'Mint new tokens even when the current ones are still good'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -l watch -d 'Stay up and keep the entries valid (a refresh loop for a service manager or a sidecar container)'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand refresh" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -l service -d 'The service; may be left out when only one is configured' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand token" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -l service -d 'The service; may be left out when only one is configured' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand exec" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -l min-left -d 'With --check: how much validity must be left, like "5m" or "90s" (default: any)' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -l service -d 'Only this service (repeatable). Default: every configured service' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -l json -d 'Print JSON instead of a table (stable field names, for monitoring)'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -l check -d 'Print nothing; exit 0 only when every (or every named) service\'s entry is unexpired with at least --min-left left, else 1 with a line per failing service'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand status" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -l service -d 'Only this service (repeatable). Default: every configured service' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -l connect -d 'Also log in once per service with psql through the written files (no retries: failed sign-ins count against the instance\'s quota), and explain a refusal'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -l json -d 'Print JSON instead of lines (stable names: services, checks, status, message, fix)'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l instance -d 'The instance to connect to, resolved through Google\'s Admin API: an AlloyDB instance (projects/P/locations/R/clusters/C/instances/I) or a Cloud SQL connection name (P:R:I), as `discover` prints them' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l host -d 'The address to connect to instead: an IP address or a DNS name' -r -f -a "(__fish_print_hostnames)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l ip-type -d 'With --instance: which of its addresses to use (default: private)' -r -f -a "private\t''
public\t''
psc\t''"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l port -d 'The port (default: 5432, or what the instance\'s resolution says)' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l dbname -d 'The database to connect to' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l user -d 'The database user (default: derived from the credential\'s account)' -r -f -a "(__fish_complete_users)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l credentials -d 'Where its tokens come from: adc, metadata, gcloud, or the path of a service-account key file (default: the configuration\'s default, else adc)' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l impersonate -d 'A service account to impersonate for its tokens' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -l no-refresh -d 'Only write the configuration: no refresh, no check'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand add" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -l project -d 'The project to list (repeatable). Default: the credential\'s project' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -l credentials -d 'The credential to list with: adc, metadata, gcloud, or the path of a service-account key file (default: adc)' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -l impersonate -d 'A service account to impersonate for listing' -r -f
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -l json -d 'Print a JSON array (fields: instance, kind, project, state, addresses, iam_authentication, connectors_only, add)'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand discover" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -l service -d 'Only this service (repeatable). Default: every configured service' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -l passexec -d 'pgadmin only: host, port, user and a password exec command running `token`, instead of the service'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand export" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -l list -d 'Print the names of the pages instead'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand man" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand __services" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand __services" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand __services" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand __services" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand __services" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand completions" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand completions" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand completions" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand completions" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -l service -d 'Remove this service\'s entry and section (repeatable); it need not be configured any more' -r -f -a "(__fish_alloydb_cred_services)"
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -l config -d 'Configuration file to use' -r -F
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -l all -d 'Remove every entry and section of this configuration in the configured files, including those of services no longer in it'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -s v -l verbose -d 'Say more: -v reports what is refreshed and why, -vv adds debugging detail'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -s q -l quiet -d 'Say nothing but errors'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand remove" -s V -l version -d 'Print version'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "refresh" -d 'Make the entries of every (or the named) service valid'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "token" -d 'Print a valid token for a service on stdout, and nothing else'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "exec" -d 'Run a command with PGSERVICE, PGSERVICEFILE and PGPASSFILE set for a service'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "status" -d 'Show each service\'s user, host, expiry, time left, token breadth and last error, never its token'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "doctor" -d 'Find every reason a login would fail, before anyone tries'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "add" -d 'Add a service to the configuration, then refresh it and check it as `doctor` does'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "discover" -d 'List the AlloyDB and Cloud SQL for PostgreSQL instances a credential can see, with the `add` command for each'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "export" -d 'Print connection entries for a GUI client, from the sections `refresh` wrote'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "man" -d 'Print a manual page on stdout, for installs that come without them'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "__services" -d 'The configured services\' names, one a line, for the completion scripts: nothing (and exit 0) when the configuration cannot be read'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "completions" -d 'Print a shell completion script on stdout'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "remove" -d 'Delete the entries and sections alloydb-cred manages, and nothing else'
complete -c alloydb-cred -n "__fish_alloydb_cred_using_subcommand help; and not __fish_seen_subcommand_from refresh token exec status doctor add discover export man __services completions remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
