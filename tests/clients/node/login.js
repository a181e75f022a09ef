// Logs in with node-postgres (`pg`), which has no service files but reads the password
// file itself: PGPASSFILE, else ~/.pgpass.
//
// Usage: node login.js [--pgpass-module] JSON...
//
// Each JSON argument holds the connection's host, port, user and database and no
// password. For each, connects and prints `HOST|current_user|inet_server_addr()`. pg 8
// looks the password up itself and warns that this is deprecated (pg 9 drops it);
// --pgpass-module instead passes a password function that asks the same `pgpass` module,
// the way pg's deprecation notice recommends. A failure prints the driver's error on
// stderr; the exit status is 1 if any connection failed.
'use strict';

const path = require('path');
const { Client } = require('pg');
const pgpass = require('pgpass');

function passwordFromFile(params) {
  return () => new Promise((resolve) => pgpass(params, (password) => resolve(password)));
}

async function login(params, explicitPgpass) {
  const config = { ...params, connectionTimeoutMillis: 10000 };
  if (explicitPgpass) {
    config.password = passwordFromFile(params);
  }
  const client = new Client(config);
  await client.connect();
  try {
    const res = await client.query('select current_user, host(inet_server_addr()) as addr');
    return res.rows[0];
  } finally {
    await client.end();
  }
}

async function main(args) {
  const explicitPgpass = args[0] === '--pgpass-module';
  const targets = explicitPgpass ? args.slice(1) : args;
  // pg may bring its own pgpass, older than the one this program calls.
  const pgDir = path.dirname(require.resolve('pg/package.json'));
  const version = (name, paths) => require(require.resolve(`${name}/package.json`, { paths })).version;
  console.error(
    `version: pg ${version('pg')} (with pgpass ${version('pgpass', [pgDir])}), ` +
      `pgpass ${version('pgpass')}, node ${process.version}`
  );
  let failed = false;
  for (const arg of targets) {
    const params = JSON.parse(arg);
    try {
      const row = await login(params, explicitPgpass);
      console.log(`${params.host}|${row.current_user}|${row.addr}`);
    } catch (e) {
      console.error(`${params.host}: ${e.message}`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
