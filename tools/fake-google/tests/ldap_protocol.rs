//! The LDAP server at the wire level, with a hand-rolled BER client, so
//! framing problems show up here rather than as a vague PostgreSQL login
//! failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fake_google::FakeGoogle;

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        let len = (body.len() as u32).to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(body);
    out
}

fn message(id: u8, op: Vec<u8>) -> Vec<u8> {
    let mut body = tlv(0x02, &[id]);
    body.extend(op);
    tlv(0x30, &body)
}

fn bind(id: u8, dn: &str, password: &str) -> Vec<u8> {
    let mut op = tlv(0x02, &[3]);
    op.extend(tlv(0x04, dn.as_bytes()));
    op.extend(tlv(0x80, password.as_bytes()));
    message(id, tlv(0x60, &op))
}

fn connect(google: &FakeGoogle) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", google.ldap_port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads one response: (messageID, op tag, resultCode, diagnosticMessage).
fn read_result(stream: &mut TcpStream) -> (u8, u8, u8, String) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x30);
    let len = if head[1] < 0x80 {
        usize::from(head[1])
    } else {
        let mut bytes = vec![0u8; usize::from(head[1] & 0x7F)];
        stream.read_exact(&mut bytes).unwrap();
        bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b))
    };
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    // INTEGER messageID (one byte in these tests)
    assert_eq!(&body[..2], &[0x02, 0x01]);
    let id = body[2];
    let op = body[3];
    let rest = &body[5..]; // op length is short form for these small answers
    assert_eq!(&rest[..2], &[0x0A, 0x01]);
    let code = rest[2];
    assert_eq!(&rest[3..5], &[0x04, 0x00]); // empty matchedDN
    assert_eq!(rest[5], 0x04);
    let diag_len = usize::from(rest[6]);
    let diag = String::from_utf8(rest[7..7 + diag_len].to_vec()).unwrap();
    (id, op, code, diag)
}

fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("connection still open"),
    }
}

#[test]
fn binds_on_one_connection_then_unbind() {
    let google = FakeGoogle::start().unwrap();
    let token = google.mint("kai@altostrat.com", Duration::from_secs(60), &[], 3000);
    let mut conn = connect(&google);

    conn.write_all(&bind(1, "cn=kai@altostrat.com", &token))
        .unwrap();
    assert_eq!(read_result(&mut conn), (1, 0x61, 0, String::new()));

    conn.write_all(&bind(2, "cn=other@altostrat.com", &token))
        .unwrap();
    assert_eq!(
        read_result(&mut conn),
        (
            2,
            0x61,
            49,
            "IAM principal does not match database user.".into()
        )
    );

    conn.write_all(&bind(3, "cn=kai@altostrat.com", "ya29.made-up"))
        .unwrap();
    assert_eq!(
        read_result(&mut conn),
        (
            3,
            0x61,
            49,
            "Request had invalid authentication credentials.".into()
        )
    );

    // UnbindRequest: [APPLICATION 2] NULL; the server just hangs up.
    conn.write_all(&message(4, vec![0x42, 0x00])).unwrap();
    assert_closed(&mut conn);

    assert_eq!(google.ldap_binds(), (1, 2));
    let log = google.ldap_bind_log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].dn, "cn=kai@altostrat.com");
    assert!(log[0].accepted && !log[1].accepted);
}

#[test]
fn unsupported_operations_are_refused_in_protocol() {
    let google = FakeGoogle::start().unwrap();
    let mut conn = connect(&google);
    // A SearchRequest gets SearchResultDone with an error, and the
    // connection stays usable.
    conn.write_all(&message(5, tlv(0x63, &tlv(0x04, b""))))
        .unwrap();
    let (id, op, code, _) = read_result(&mut conn);
    assert_eq!((id, op), (5, 0x65));
    assert_ne!(code, 0);
    // StartTLS (ExtendedRequest) gets protocolError.
    conn.write_all(&message(
        6,
        tlv(0x77, &tlv(0x80, b"1.3.6.1.4.1.1466.20037")),
    ))
    .unwrap();
    let (id, op, code, _) = read_result(&mut conn);
    assert_eq!((id, op, code), (6, 0x78, 2));
}

#[test]
fn sasl_and_old_versions_are_rejected() {
    let google = FakeGoogle::start().unwrap();
    let mut conn = connect(&google);
    let mut op = tlv(0x02, &[3]);
    op.extend(tlv(0x04, b"cn=kai@altostrat.com"));
    op.extend(tlv(0xA3, &tlv(0x04, b"PLAIN")));
    conn.write_all(&message(1, tlv(0x60, &op))).unwrap();
    assert_eq!(read_result(&mut conn).2, 7);

    let mut op = tlv(0x02, &[2]);
    op.extend(tlv(0x04, b"cn=kai@altostrat.com"));
    op.extend(tlv(0x80, b"x"));
    conn.write_all(&message(2, tlv(0x60, &op))).unwrap();
    assert_eq!(read_result(&mut conn).2, 2);
    assert_eq!(google.ldap_binds(), (0, 2));
}

#[test]
fn garbage_and_oversized_messages_close_the_connection() {
    let google = FakeGoogle::start().unwrap();

    // Not a SEQUENCE: Notice of Disconnection (messageID 0), then close.
    let mut conn = connect(&google);
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (id, op, code, _) = read_result(&mut conn);
    assert_eq!((id, op, code), (0, 0x78, 2));
    assert_closed(&mut conn);

    // Declared length above 64 KiB: refused before reading the body.
    let mut conn = connect(&google);
    conn.write_all(&[0x30, 0x83, 0x01, 0x00, 0x01]).unwrap();
    let (id, _, code, _) = read_result(&mut conn);
    assert_eq!((id, code), (0, 2));
    assert_closed(&mut conn);

    // The server is still fine for the next client.
    let token = google.mint("kai@altostrat.com", Duration::from_secs(60), &[], 180);
    let mut conn = connect(&google);
    conn.write_all(&bind(1, "cn=kai@altostrat.com", &token))
        .unwrap();
    assert_eq!(read_result(&mut conn).2, 0);
}
