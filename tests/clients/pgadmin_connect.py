"""Drives a real pgAdmin 4 without a browser, the way its own regression tests do.

    python3 pgadmin_connect.py DATA_DIR SERVERS_JSON

pgAdmin runs in desktop mode (one user, logged in by itself) with its configuration
database, sessions and log in DATA_DIR (a `config_local.py` there is how pgAdmin is
configured). SERVERS_JSON is imported with pgAdmin's own command, `setup.py
load-servers`. Then each line on standard input is one request, answered by one JSON
line on standard output:

    connect NAME       connect the server NAME, as clicking it in the tree does
                       (POST /browser/server/connect/GID/SID)
    query NAME SQL     open a new Query Tool on NAME's maintenance database (its own
                       connection) and run SQL in it, as the Query Tool does
                       (initialize, query_tool/start, poll until done)
    passexec           how often pgAdmin ran a PasswordExecCommand so far (its log)

Every answer has `ok`; `connect` adds `user` (whom pgAdmin is connected as), `query` adds
`rows` (the first column of each row), failures add `error` (what pgAdmin said). Lines
from pgAdmin's own start-up go to standard error.
"""

import json
import os
import secrets
import subprocess
import sys
import time
import traceback


def pgadmin_root():
    import pgadmin4  # the wheel's folder: setup.py, config.py and the pgadmin package

    return list(pgadmin4.__path__)[0]


CONFIG_LOCAL = """\
# Desktop mode: one user, no login page, no master password, no OS keyring.
SERVER_MODE = False
DATA_DIR = {data_dir!r}
LOG_FILE = {log_file!r}
FILE_LOG_LEVEL = 20  # INFO: pgAdmin logs "Calling passexec" each time it runs the command
CONSOLE_LOG_LEVEL = 40
MASTER_PASSWORD_REQUIRED = False
USE_OS_SECRET_STORAGE = False
UPGRADE_CHECK_ENABLED = False
# The requests come from this script, not from a page that could carry the token.
WTF_CSRF_ENABLED = False
"""


def setup(data_dir):
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    log_file = os.path.join(data_dir, "pgadmin4.log")
    with open(os.path.join(data_dir, "config_local.py"), "w") as f:
        f.write(CONFIG_LOCAL.format(data_dir=data_dir, log_file=log_file))
    root = pgadmin_root()
    path = os.pathsep.join([data_dir, root, os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path
    sys.path[:0] = [data_dir, root]
    return root, log_file


def setup_py(root, *args):
    """pgAdmin's own command line, as an administrator runs it."""
    out = subprocess.run(
        [sys.executable, os.path.join(root, "setup.py"), *args],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    sys.stderr.write(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit("setup.py {} failed:\n{}{}".format(args[0], out.stdout, out.stderr))
    return out.stdout


def load_servers(root, servers):
    out = setup_py(root, "load-servers", servers)
    if "Added" not in out:
        raise SystemExit("setup.py load-servers imported nothing:\n" + out)


class PgAdmin:
    def __init__(self, log_file):
        # pgAdmin's own entry point, without its web server: the application exactly as
        # `python3 pgAdmin4.py` builds it, answering through Flask's test client.
        os.environ["PGADMIN_SERVER_MODE"] = "OFF"
        import pgAdmin4

        self.log_file = log_file
        self.app = pgAdmin4.app
        self.client = self.app.test_client()
        self.servers = {}
        self.dids = {}

    @staticmethod
    def _error(answer):
        """What pgAdmin tells the user: a message, or the password prompt's message."""
        result = answer.get("result")
        prompt = result.get("errmsg") if isinstance(result, dict) else None
        return answer.get("errormsg") or prompt or answer.get("info") or json.dumps(answer)

    def _json(self, response):
        try:
            return json.loads(response.data.decode("utf-8"))
        except ValueError:
            return {"success": 0, "errormsg": response.data.decode("utf-8", "replace")}

    def list_servers(self):
        found = {}
        groups = self._json(self.client.get("/browser/server_group/nodes/"))
        for group in groups.get("data") or []:
            gid = group["_id"]
            nodes = self._json(self.client.get("/browser/server/nodes/{}/".format(gid)))
            for node in nodes.get("result") or nodes.get("data") or []:
                found[node["label"]] = (gid, node["_id"], group["label"])
        return found

    def connect(self, name):
        gid, sid, _ = self.servers[name]
        answer = self._json(
            self.client.post(
                "/browser/server/connect/{}/{}".format(gid, sid),
                data=json.dumps({}),
                content_type="application/json",
            )
        )
        if answer.get("success") == 1:
            data = answer.get("data") or {}
            # The maintenance database's id, which the Query Tool opens.
            self.dids[name] = data.get("did")
            return {"ok": True, "user": (data.get("user") or {}).get("name")}
        return {"ok": False, "error": self._error(answer)}

    def query(self, name, sql):
        gid, sid, _ = self.servers[name]
        if name not in self.dids:
            return {"ok": False, "error": "connect the server first"}
        did = self.dids[name]
        trans_id = secrets.choice(range(1, 9999999))
        init = self._json(
            self.client.post(
                "/sqleditor/initialize/sqleditor/{}/{}/{}/{}".format(trans_id, gid, sid, did),
                data=json.dumps({"dbname": self._maintenance_db(sid)}),
                content_type="application/json",
            )
        )
        if init.get("success") != 1:
            return {"ok": False, "error": self._error(init)}
        try:
            start = self._json(
                self.client.post(
                    "/sqleditor/query_tool/start/{}".format(trans_id),
                    data=json.dumps({"sql": sql}),
                    content_type="application/json",
                )
            )
            if start.get("success") != 1:
                return {"ok": False, "error": self._error(start)}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                poll = self._json(self.client.get("/sqleditor/poll/{}".format(trans_id)))
                data = poll.get("data") or {}
                status = data.get("status")
                if poll.get("success") != 1:
                    return {"ok": False, "error": self._error(poll)}
                if status == "Success":
                    rows = [row[0] for row in data.get("result") or []]
                    return {"ok": True, "rows": rows}
                if status not in ("Busy", "NotInitialised"):
                    return {"ok": False, "error": data.get("result") or status}
                time.sleep(0.05)
            return {"ok": False, "error": "the query did not finish in 30 s"}
        finally:
            self.client.delete("/sqleditor/close/{}".format(trans_id))

    def _maintenance_db(self, sid):
        from pgadmin.model import Server

        with self.app.app_context():
            return Server.query.filter_by(id=sid).first().maintenance_db

    def passexec_runs(self):
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                return sum("Calling passexec" in line for line in f)
        except FileNotFoundError:
            return 0


def main():
    data_dir, servers = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    # The answers have standard output to themselves: what pgAdmin prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    root, log_file = setup(data_dir)
    # Started first, pgAdmin creates its configuration database (as on a first start),
    # into which the administrator's command then imports the servers.
    pgadmin = PgAdmin(log_file)
    load_servers(root, servers)
    pgadmin.servers = pgadmin.list_servers()
    servers = {name: group for name, (_, _, group) in pgadmin.servers.items()}
    print(json.dumps({"ok": True, "servers": servers}), file=answers, flush=True)
    for line in sys.stdin:
        words = line.rstrip("\n").split(" ", 2)
        try:
            if words[0] == "connect":
                answer = pgadmin.connect(words[1])
            elif words[0] == "query":
                answer = pgadmin.query(words[1], words[2])
            elif words[0] == "passexec":
                answer = {"ok": True, "runs": pgadmin.passexec_runs()}
            else:
                answer = {"ok": False, "error": "unknown request " + words[0]}
        except Exception as e:  # the test shows it; pgAdmin's own errors are answers too
            traceback.print_exc()
            answer = {"ok": False, "error": "{}: {}".format(type(e).__name__, e)}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    main()
