//! Validation benchmarks (criterion), reported as ratios measured in the same run:
//! - `request`: `validate_request` per call next to a bare `jsonschema::Validator::is_valid` on
//!   the same schema and instance (target: within 1.5×);
//! - `definitions`: `validate` of 250, 500 and 1,000 definition files; per-file cost must stay
//!   flat (linear growth).
//!
//! Run: `cargo bench -p usage-connector --bench validation`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use usage_connector::catalog::EndpointId;
use usage_connector::validate::{validate_definition, validate_request};
use usage_connector::validators::Validators;

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

#[allow(clippy::print_stderr)]
fn request(c: &mut Criterion) {
    let body = json!({"subscriptionId": "sub_01HRF27SATGE4Z6PBJE6PD8328", "quantity": 5.125,
                      "usageTime": "2025-05-01T12:00:00Z", "acceptPartialQuantity": true});
    let bare = Validators::builtin().request(EndpointId::RebillyCreateUsage);
    let mut group = c.benchmark_group("request");
    group.bench_function("bare jsonschema is_valid", |b| {
        b.iter(|| black_box(bare.is_valid(black_box(&body))))
    });
    group.bench_function("validate_request", |b| {
        b.iter(|| {
            black_box(validate_request(EndpointId::RebillyCreateUsage, black_box(&body)).is_ok())
        })
    });
    group.finish();
    // The ratio, measured here in one run (alternating to share machine noise).
    let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..5 {
        theirs += per_call(200_000, || {
            black_box(bare.is_valid(black_box(&body)));
        });
        ours += per_call(200_000, || {
            black_box(validate_request(EndpointId::RebillyCreateUsage, black_box(&body)).is_ok());
        });
    }
    eprintln!(
        "RATIO request: validate_request {:?}/call vs bare is_valid {:?}/call = {:.2}x (target <= 1.5x)",
        ours / 5,
        theirs / 5,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

#[allow(clippy::print_stderr)]
fn definitions(c: &mut Criterion) {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/workflows/valid/every-placeholder-form.json"
    ))
    .unwrap();
    let v = Validators::builtin();
    let run = |n: usize| {
        for i in 0..n {
            black_box(validate_definition(
                &format!("f{i}.json"),
                black_box(&sample),
                v,
                None,
            ));
        }
    };
    let mut group = c.benchmark_group("definitions");
    group.sample_size(10);
    for n in [250usize, 500, 1000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| run(n))
        });
    }
    group.finish();
    let per_file = |n: usize| per_call(3, || run(n)).as_secs_f64() / n as f64;
    let (small, large) = (per_file(250), per_file(1000));
    eprintln!(
        "RATIO definitions: per-file cost at 1,000 files / at 250 files = {:.2} ({:.1} us vs {:.1} us; 1.0 = linear)",
        large / small,
        large * 1e6,
        small * 1e6
    );
}

criterion_group!(benches, request, definitions);
criterion_main!(benches);
