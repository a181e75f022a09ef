//! A minimal LDAP server that lets a stock PostgreSQL judge passwords the way
//! AlloyDB's IAM authentication does.
//!
//! PostgreSQL's `ldap` authentication in simple-bind mode
//! (`ldapprefix="cn=" ldapsuffix=""`) opens a connection with OpenLDAP's
//! libldap, sends one BindRequest with DN `cn=<database user>` and the
//! client's password, and then an UnbindRequest. So a real `psql`, `pg_dump`
//! or driver can be pointed at a real PostgreSQL whose password check is
//! "is this a live token for the principal that owns this database user?".
//!
//! Only the BER needed for that is implemented: single-byte tags, definite
//! lengths in short or long form (long form matters: passwords are tokens of
//! 2 KiB and more), INTEGER, ENUMERATED and OCTET STRING. Messages above
//! [`MAX_MESSAGE`] are refused so a confused client cannot make the fake
//! allocate without bound.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::state::{LdapBind, State};

/// Largest LDAPMessage accepted, in bytes of content.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How long a connection may sit idle. PostgreSQL binds immediately; this
/// only bounds how long a stray client can pin a thread.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

// Universal tags.
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_ENUMERATED: u8 = 0x0A;
const TAG_SEQUENCE: u8 = 0x30;

// Protocol operations ([APPLICATION n], constructed unless noted).
const OP_BIND_REQUEST: u8 = 0x60;
const OP_BIND_RESPONSE: u8 = 0x61;
const OP_UNBIND_REQUEST: u8 = 0x42; // primitive
const OP_ABANDON_REQUEST: u8 = 0x50; // primitive
const OP_EXTENDED_RESPONSE: u8 = 0x78;

// Authentication choices inside a BindRequest.
const AUTH_SIMPLE: u8 = 0x80; // [0] primitive
const AUTH_SASL: u8 = 0xA3; // [3] constructed

/// Tag of `responseName` in an ExtendedResponse ([10] primitive).
const TAG_RESPONSE_NAME: u8 = 0x8A;
/// OID of the unsolicited Notice of Disconnection (RFC 4511 §4.4.1).
const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// LDAP result codes used here.
pub mod result_code {
    pub const SUCCESS: u8 = 0;
    pub const PROTOCOL_ERROR: u8 = 2;
    pub const AUTH_METHOD_NOT_SUPPORTED: u8 = 7;
    pub const INVALID_CREDENTIALS: u8 = 49;
    pub const UNWILLING_TO_PERFORM: u8 = 53;
}

/// Requests other than bind that have a response with an LDAPResult body,
/// mapped to that response's tag, so they can be refused in-protocol.
const REFUSABLE: &[(u8, u8)] = &[
    (0x63, 0x65), // SearchRequest -> SearchResultDone
    (0x66, 0x67), // ModifyRequest -> ModifyResponse
    (0x68, 0x69), // AddRequest -> AddResponse
    (0x4A, 0x6B), // DelRequest (primitive) -> DelResponse
    (0x6C, 0x6D), // ModifyDNRequest -> ModifyDNResponse
    (0x6E, 0x6F), // CompareRequest -> CompareResponse
    (0x77, 0x78), // ExtendedRequest (e.g. StartTLS) -> ExtendedResponse
];

/// The running LDAP server. Dropping it stops accepting; open connections
/// end when their client disconnects or goes idle.
pub(crate) struct LdapServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// In a mutex only so that the server (and `FakeGoogle`) can be shared between test
    /// threads; it is used once, when dropped.
    done: std::sync::Mutex<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LdapServer {
    pub fn start(state: Arc<State>) -> io::Result<LdapServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("fake-google-ldap".into())
                .spawn(move || {
                    accept_loop(&listener, &stop, &state);
                    let _ = done_tx.send(());
                })?
        };
        Ok(LdapServer {
            addr,
            stop,
            done: std::sync::Mutex::new(done),
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a throwaway connection. Join only
        // once the loop has confirmed it ended, so a failed wake-up (say, no
        // file descriptors left) leaves a detached thread, not a hung drop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let done = self
            .done
            .get_mut()
            .map(|done| done.recv_timeout(Duration::from_secs(2)).is_ok())
            .unwrap_or(false);
        if done {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, state: &Arc<State>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                let state = Arc::clone(state);
                let spawned = thread::Builder::new()
                    .name("fake-google-ldap-conn".into())
                    .spawn(move || {
                        // Errors here are the client's business (it hung up,
                        // sent garbage, or idled out); the connection is
                        // simply closed.
                        let _ = serve_connection(stream, &state);
                    });
                if let Err(e) = spawned {
                    eprintln!("fake-google: cannot spawn LDAP connection thread: {e}");
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// What to do after handling one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Reply(Vec<u8>),
    ReplyAndClose(Vec<u8>),
    Close,
    Nothing,
}

fn serve_connection(mut stream: TcpStream, state: &State) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let _ = stream.set_nodelay(true);
    loop {
        let action = match read_message(&mut stream) {
            Ok(Some(content)) => handle_message(state, &content),
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                Action::ReplyAndClose(notice_of_disconnection(&e.to_string()))
            }
            Err(e) => return Err(e),
        };
        match action {
            Action::Reply(bytes) => stream.write_all(&bytes)?,
            Action::ReplyAndClose(bytes) => {
                stream.write_all(&bytes)?;
                return Ok(());
            }
            Action::Close => return Ok(()),
            Action::Nothing => {}
        }
    }
}

/// Reads one LDAPMessage and returns the content of its outer SEQUENCE, or
/// `None` on a clean end of stream. Framing errors are `InvalidData`.
pub(crate) fn read_message(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut tag = [0u8; 1];
    loop {
        match stream.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if tag[0] != TAG_SEQUENCE {
        return Err(invalid("message is not a SEQUENCE"));
    }
    let mut first = [0u8; 1];
    stream.read_exact(&mut first)?;
    let len = if first[0] < 0x80 {
        usize::from(first[0])
    } else {
        let count = usize::from(first[0] & 0x7F);
        if count == 0 || count > 4 {
            return Err(invalid("unsupported length encoding"));
        }
        let mut bytes = [0u8; 4];
        stream.read_exact(&mut bytes[..count])?;
        bytes[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if len > MAX_MESSAGE {
        return Err(invalid("message too large"));
    }
    let mut content = vec![0u8; len];
    stream.read_exact(&mut content)?;
    Ok(Some(content))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Decides what to answer to one LDAPMessage (given without its outer
/// SEQUENCE header).
pub(crate) fn handle_message(state: &State, content: &[u8]) -> Action {
    let Ok((id_tlv, rest)) = parse_tlv(content) else {
        return Action::ReplyAndClose(notice_of_disconnection("malformed message"));
    };
    let message_id = match (id_tlv.tag, parse_integer(id_tlv.body)) {
        (TAG_INTEGER, Some(id)) if (0..=i64::from(i32::MAX)).contains(&id) => id,
        _ => return Action::ReplyAndClose(notice_of_disconnection("bad messageID")),
    };
    // Trailing controls ([0]) are ignored: PostgreSQL sends none, and the
    // RFC lets a server ignore non-critical ones.
    let Ok((op, _controls)) = parse_tlv(rest) else {
        return Action::ReplyAndClose(notice_of_disconnection("malformed protocolOp"));
    };
    match op.tag {
        OP_BIND_REQUEST => Action::Reply(handle_bind(state, message_id, op.body)),
        OP_UNBIND_REQUEST => Action::Close,
        OP_ABANDON_REQUEST => Action::Nothing,
        tag => match REFUSABLE.iter().find(|(req, _)| *req == tag) {
            // RFC 4511 says protocolError for unsupported extended
            // operations (StartTLS included) and leaves the rest to
            // unwillingToPerform.
            Some((_, response_tag)) => Action::Reply(ldap_result(
                message_id,
                *response_tag,
                if *response_tag == OP_EXTENDED_RESPONSE {
                    result_code::PROTOCOL_ERROR
                } else {
                    result_code::UNWILLING_TO_PERFORM
                },
                "fake-google only supports simple bind",
            )),
            None => Action::ReplyAndClose(notice_of_disconnection("unsupported operation")),
        },
    }
}

fn handle_bind(state: &State, message_id: i64, body: &[u8]) -> Vec<u8> {
    let respond =
        |code: u8, diagnostic: &str| ldap_result(message_id, OP_BIND_RESPONSE, code, diagnostic);
    let Some((version, dn, auth)) = parse_bind(body) else {
        return respond(result_code::PROTOCOL_ERROR, "malformed BindRequest");
    };
    let dn_text = String::from_utf8_lossy(dn).into_owned();
    let record = |accepted: bool, diagnostic: &str| {
        state.record_ldap_bind(LdapBind {
            dn: dn_text.clone(),
            accepted,
            diagnostic: diagnostic.to_owned(),
        })
    };
    if version != 3 {
        let msg = "only LDAPv3 is supported";
        record(false, msg);
        return respond(result_code::PROTOCOL_ERROR, msg);
    }
    if auth.tag == AUTH_SASL {
        let msg = "SASL binds are not supported";
        record(false, msg);
        return respond(result_code::AUTH_METHOD_NOT_SUPPORTED, msg);
    }
    if auth.tag != AUTH_SIMPLE {
        let msg = "unknown authentication choice";
        record(false, msg);
        return respond(result_code::PROTOCOL_ERROR, msg);
    }
    let password = String::from_utf8_lossy(auth.body);
    let db_user = database_user_from_dn(&dn_text);
    match state.check_login(db_user, &password) {
        Ok(()) => {
            record(true, "");
            respond(result_code::SUCCESS, "")
        }
        Err(refusal) => {
            record(false, refusal.message());
            respond(result_code::INVALID_CREDENTIALS, refusal.message())
        }
    }
}

/// The database user PostgreSQL put into the DN. With `ldapprefix="cn="`
/// and an empty suffix the DN is `cn=<user>`; a DN without the prefix is
/// taken whole so other prefix settings still work.
fn database_user_from_dn(dn: &str) -> &str {
    match dn.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("cn=") => &dn[3..],
        _ => dn,
    }
}

/// BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER, name
/// LDAPDN, authentication AuthenticationChoice }.
fn parse_bind(body: &[u8]) -> Option<(i64, &[u8], Tlv<'_>)> {
    let (version, rest) = parse_tlv(body).ok()?;
    let (name, rest) = parse_tlv(rest).ok()?;
    let (auth, _) = parse_tlv(rest).ok()?;
    if version.tag != TAG_INTEGER || name.tag != TAG_OCTET_STRING {
        return None;
    }
    Some((parse_integer(version.body)?, name.body, auth))
}

/// One decoded tag-length-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
}

/// Splits one TLV off the front of `input`.
pub(crate) fn parse_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), ()> {
    let (&tag, rest) = input.split_first().ok_or(())?;
    if tag & 0x1F == 0x1F {
        return Err(()); // multi-byte tags are never used by LDAP
    }
    let (&first, mut rest) = rest.split_first().ok_or(())?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(());
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return Err(());
    }
    let (body, rest) = rest.split_at(len);
    Ok((Tlv { tag, body }, rest))
}

/// A two's-complement big-endian INTEGER of 1 to 8 bytes.
pub(crate) fn parse_integer(body: &[u8]) -> Option<i64> {
    if body.is_empty() || body.len() > 8 {
        return None;
    }
    let negative = body[0] & 0x80 != 0;
    let start: i64 = if negative { -1 } else { 0 };
    Some(body.iter().fold(start, |acc, b| (acc << 8) | i64::from(*b)))
}

/// Appends a definite length in the shortest form.
pub(crate) fn encode_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one TLV.
pub(crate) fn encode_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    encode_length(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// Encodes an INTEGER or ENUMERATED in the minimal number of bytes.
pub(crate) fn encode_integer(tag: u8, value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    // Drop leading bytes that only repeat the sign of the next byte.
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    encode_tlv(tag, &bytes[start..])
}

/// LDAPMessage { messageID, <op> LDAPResult { resultCode, matchedDN "",
/// diagnosticMessage } }.
pub(crate) fn ldap_result(message_id: i64, op_tag: u8, code: u8, diagnostic: &str) -> Vec<u8> {
    ldap_result_with(message_id, op_tag, code, diagnostic, &[])
}

fn ldap_result_with(
    message_id: i64,
    op_tag: u8,
    code: u8,
    diagnostic: &str,
    extra: &[u8],
) -> Vec<u8> {
    let mut result = encode_integer(TAG_ENUMERATED, i64::from(code));
    result.extend(encode_tlv(TAG_OCTET_STRING, b""));
    result.extend(encode_tlv(TAG_OCTET_STRING, diagnostic.as_bytes()));
    result.extend_from_slice(extra);
    let mut message = encode_integer(TAG_INTEGER, message_id);
    message.extend(encode_tlv(op_tag, &result));
    encode_tlv(TAG_SEQUENCE, &message)
}

/// The unsolicited "I am hanging up" message (messageID 0), sent before
/// closing on input the fake cannot make sense of, so libldap reports a
/// protocol error instead of a bare connection reset.
pub(crate) fn notice_of_disconnection(diagnostic: &str) -> Vec<u8> {
    let name = encode_tlv(TAG_RESPONSE_NAME, NOTICE_OF_DISCONNECTION.as_bytes());
    ldap_result_with(
        0,
        OP_EXTENDED_RESPONSE,
        result_code::PROTOCOL_ERROR,
        diagnostic,
        &name,
    )
}
