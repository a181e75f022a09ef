//! Parsing and rendering the two files at the sizes the nothing-due refresh path meets:
//! a password file with 10,000 foreign lines and 1 or 1,000 managed entries, and a
//! service file with as many sections. The nothing-due pass reads both in place
//! (`EntryView::all_in`, `SectionIndex`), beside the full parses a write needs.
//!
//! Run: `cargo bench -p libpq-files --features bench`. Whole-process timings:
//! `scripts/bench-refresh.sh`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use libpq_files::pgpass::{EntryView, ManagedEntry, PgpassFile};
use libpq_files::service_file::{ManagedSection, SectionIndex, ServiceFile};
use libpq_files::{Host, Keyword, Password, Role, SectionValue, ServiceName, Tag};

fn foreign_lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!("host{i}.example.com:5432:*:user{i}:password{i}\n").as_bytes(),
        );
    }
    out
}

fn pgpass_with(managed: usize) -> Vec<u8> {
    let mut file = PgpassFile::parse(&foreign_lines(10_000));
    for i in 0..managed {
        file.upsert(ManagedEntry {
            service: ServiceName::new(&format!("svc{i}")).expect("name"),
            expires_at: Timestamp::from_second(1_900_000_000).unwrap_or(Timestamp::UNIX_EPOCH),
            host: Host::new(&format!("10.0.{}.{}", i / 250, i % 250)).expect("host"),
            port: 5432,
            user: Role::new("robot@proj.iam").expect("role"),
            password: Password::new(&("ya29.".to_string() + &"x".repeat(250))).expect("token"),
            credential: Tag::of(b"adc"),
            owner: Some(Tag::of(b"/etc/alloydb-cred/config.toml")),
        });
    }
    file.render()
}

fn service_file_with(sections: usize) -> Vec<u8> {
    let mut file = ServiceFile::default();
    for i in 0..sections {
        let pair = |k: &str, v: &str| {
            (
                Keyword::new(k).expect("keyword"),
                SectionValue::new(v).expect("value"),
            )
        };
        let section = ManagedSection {
            name: ServiceName::new(&format!("svc{i}")).expect("name"),
            keywords: vec![
                pair("host", &format!("10.0.{}.{}", i / 250, i % 250)),
                pair("port", "5432"),
                pair("dbname", "appdb"),
                pair("user", "robot@proj.iam"),
            ],
            owner: None,
            edited: false,
        };
        let _ = file.upsert(section, "bench");
    }
    file.render()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pgpass_10k_foreign");
    for managed in [1usize, 1000] {
        let bytes = pgpass_with(managed);
        group.bench_with_input(BenchmarkId::new("parse", managed), &bytes, |b, bytes| {
            b.iter(|| PgpassFile::parse(black_box(bytes)))
        });
        group.bench_with_input(BenchmarkId::new("views", managed), &bytes, |b, bytes| {
            b.iter(|| EntryView::all_in(black_box(bytes)))
        });
        let parsed = PgpassFile::parse(&bytes);
        group.bench_with_input(BenchmarkId::new("render", managed), &parsed, |b, file| {
            b.iter(|| black_box(file).render())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("service_file");
    for sections in [1usize, 1000] {
        let bytes = service_file_with(sections);
        group.bench_with_input(BenchmarkId::new("parse", sections), &bytes, |b, bytes| {
            b.iter(|| ServiceFile::parse(black_box(bytes)))
        });
        // What the nothing-due pass does: index the file, then compare every section
        // with what would be written.
        let wanted: Vec<ManagedSection> = ServiceFile::parse(&bytes).managed().to_vec();
        group.bench_with_input(
            BenchmarkId::new("index_and_compare", sections),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let index = SectionIndex::of(black_box(bytes));
                    wanted.iter().all(|s| {
                        let keywords = s.keywords.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                        index.holds(s.name.as_str(), s.owner.as_ref(), keywords)
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
