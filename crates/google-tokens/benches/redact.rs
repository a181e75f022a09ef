//! Redacting what a failed program or server said, at the size that once took minutes:
//! a megabyte of text full of secret-looking names, with and without 100,000 known
//! secrets (the words a failed program printed on stdout) sharing their first bytes.
//! Time should grow with the text, not with the text times its matches.
//!
//! Run: `cargo bench -p google-tokens --features bench --bench redact`. Compare sizes
//! side by side in one run: the 256 KiB and 1 MiB cases should differ by about 4×, not
//! 16×.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use google_tokens::redact;

fn texts(c: &mut Criterion) {
    let mut group = c.benchmark_group("redact");
    group.sample_size(10);
    for size in [256 << 10, 1 << 20] {
        for unit in ["password ", "PASSWORD=x ", "eyJ "] {
            let text = unit.repeat(size / unit.len());
            group.bench_with_input(
                BenchmarkId::new(format!("names {unit:?}"), size),
                &text,
                |b, text| b.iter(|| redact(black_box(text), &[])),
            );
        }
        let text = "zzzzzzzz ".repeat(size / 9);
        let known: Vec<String> = (0..100_000).map(|i| format!("zzzzzzzz {i:08}")).collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        group.bench_with_input(
            BenchmarkId::new("100,000 known secrets", size),
            &text,
            |b, text| b.iter(|| redact(black_box(text), black_box(&known))),
        );
    }
    group.finish();
}

criterion_group!(benches, texts);
criterion_main!(benches);
