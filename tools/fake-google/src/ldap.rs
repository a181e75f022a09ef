//! A minimal LDAP simple-bind responder that lets a stock PostgreSQL judge
//! passwords the way AlloyDB's IAM authentication does.
//!
//! PostgreSQL's `ldap` method in simple-bind mode (`ldapprefix="cn="
//! ldapsuffix=""`) sends one BindRequest with DN `cn=<database user>` and
//! the client's password, then an UnbindRequest. Only that is understood:
//! the bind is answered, anything else closes the connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::http::Acceptor;
use crate::state::{INVALID_CREDENTIALS, LdapBind, State};

/// Largest LDAPMessage accepted (passwords are tokens of 2 KiB and more).
const MAX_MESSAGE: usize = 64 * 1024;

/// Listens on 127.0.0.1, one thread per connection.
pub(crate) fn start(state: Arc<State>) -> io::Result<Acceptor> {
    Acceptor::start(move |stream| {
        let _ = serve(stream, &state);
    })
}

fn serve(mut stream: TcpStream, state: &State) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    loop {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head)?;
        let len = ber_length(head[1], |bytes| stream.read_exact(bytes).ok());
        let Some(len) = len.filter(|len| head[0] == 0x30 && *len <= MAX_MESSAGE) else {
            return Ok(());
        };
        let mut message = vec![0u8; len];
        stream.read_exact(&mut message)?;
        match bind_response(state, &message) {
            Some(answer) => stream.write_all(&answer)?,
            None => return Ok(()), // unbind, or anything but a simple bind
        }
    }
}

/// The length whose first octet is `first`; `more` fills in the octets of
/// the long form (at most four here).
fn ber_length(first: u8, more: impl FnOnce(&mut [u8]) -> Option<()>) -> Option<usize> {
    if first & 0x80 == 0 {
        return Some(usize::from(first));
    }
    let mut bytes = [0u8; 4];
    let long = bytes
        .get_mut(..usize::from(first & 0x7F))
        .filter(|b| !b.is_empty())?;
    more(long)?;
    Some(long.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b)))
}

/// Splits one tag-length-value off the front of `input`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = ber_length(first, |long| {
        let (octets, after) = rest.split_at_checked(long.len())?;
        long.copy_from_slice(octets);
        rest = after;
        Some(())
    })?;
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The BindResponse to a `messageID, BindRequest { 3, dn, simple password }`
/// message, recording the bind; `None` for any other message.
fn bind_response(state: &State, message: &[u8]) -> Option<Vec<u8>> {
    let (0x02, id, rest) = tlv(message)? else {
        return None;
    };
    let (0x60, bind, _) = tlv(rest)? else {
        return None;
    };
    let (0x02, version, rest) = tlv(bind)? else {
        return None;
    };
    let (0x04, dn, rest) = tlv(rest)? else {
        return None;
    };
    let (0x80, password, _) = tlv(rest)? else {
        return None;
    };
    let dn = String::from_utf8_lossy(dn).into_owned();
    let user = match dn.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("cn=") => &dn[3..],
        _ => &dn,
    };
    let verdict = match version {
        [3] => state.check_login(user, &String::from_utf8_lossy(password)),
        _ => Err(INVALID_CREDENTIALS),
    };
    let (code, diagnostic) = match verdict {
        Ok(()) => (0u8, ""),
        Err(refusal) => (49, refusal), // invalidCredentials
    };
    state.ldap_log().push(LdapBind {
        dn: dn.clone(),
        accepted: code == 0,
    });
    // LDAPResult { resultCode ENUMERATED, matchedDN "", diagnosticMessage }
    let mut result = vec![0x0A, 1, code, 0x04, 0];
    result.extend(encode(0x04, diagnostic.as_bytes()));
    let mut body = encode(0x02, id);
    body.extend(encode(0x61, &result));
    Some(encode(0x30, &body))
}

/// One TLV with a definite length in the shortest form.
fn encode(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match u8::try_from(body.len()) {
        Ok(len) if len < 0x80 => out.push(len),
        _ => {
            let bytes = body.len().to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(body);
    out
}
