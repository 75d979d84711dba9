//! The governor's policy on a simulated clock (pushback vs noise), and its permits on a real
//! runtime.

use std::time::{Duration, Instant};

use super::state::State;
use super::*;

fn accepted() -> Signal {
    Signal::Accepted {
        remaining: None,
        limit: None,
    }
}

fn refused() -> Signal {
    Signal::RateLimited(Some(Duration::from_secs(1)))
}

async fn answer(g: &Governor, signal: Signal) {
    g.acquire().await.signal(Some(signal));
}

/// A run simulated on a clock of its own: every 10 ms the governor sends what its pace (or,
/// unpaced, `demand` per second) allows, and `api` answers each send at once.
fn simulate(seconds: u64, demand: f64, mut api: impl FnMut(Instant) -> Signal) -> Vec<Snap> {
    let start = Instant::now();
    let mut s = State::new(64.0, start);
    let mut owed = 0.0;
    let mut seen = Vec::new();
    for tick in 1..=seconds * 100 {
        let now = start + Duration::from_millis(tick * 10);
        owed += s.pace.unwrap_or(demand).min(demand) / 100.0;
        while owed >= 1.0 {
            owed -= 1.0;
            let signal = api(now);
            s.learn(now, now, signal, Some(256));
        }
        if tick % 100 == 0 {
            let snap = s.snapshot(now);
            seen.push(Snap {
                pace: snap.pace,
                window: snap.window,
                noise: snap.refusal_noise,
            });
        }
    }
    seen
}

#[derive(Debug)]
struct Snap {
    pace: Option<f64>,
    window: usize,
    noise: f64,
}

/// A deterministic stream of draws in [0, 1).
fn draws(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn refusals_drawn_whatever_the_rate_are_noise_and_the_pace_goes_back_to_open() {
    let mut draw = draws(7);
    let seen = simulate(30, 1000.0, |_| {
        if draw() < 0.1 { refused() } else { accepted() }
    });
    // The first second's refusals start a trial; they do not fall at the lower pace, so the
    // pace is undone and stays open.
    let late = &seen[5..];
    assert!(
        late.iter().filter(|s| s.pace.is_none()).count() * 10 >= late.len() * 8,
        "open at least 80 % of the time: {seen:?}"
    );
    assert!(
        late.iter().all(|s| s.pace.is_none_or(|p| p >= 750.0)),
        "{seen:?}"
    );
    assert!(seen.last().unwrap().noise > 0.05, "{seen:?}");
}

#[test]
fn a_token_bucket_is_pushback_and_the_pace_holds_near_its_rate() {
    // 300 writes a second, one second of burst.
    let (mut tokens, mut at) = (300.0f64, None::<Instant>);
    let seen = simulate(30, 2000.0, |now| {
        let since = at.map_or(0.0, |a| now.duration_since(a).as_secs_f64());
        at = Some(now);
        tokens = (tokens + since * 300.0).min(300.0);
        if tokens >= 1.0 {
            tokens -= 1.0;
            accepted()
        } else {
            refused()
        }
    });
    let late: Vec<f64> = seen[5..]
        .iter()
        .map(|s| s.pace.unwrap_or(f64::INFINITY))
        .collect();
    let mean = late.iter().sum::<f64>() / late.len() as f64;
    assert!((250.0..=340.0).contains(&mean), "{mean}: {seen:?}");
}

#[test]
fn failures_drawn_whatever_the_window_leave_it_where_it_was() {
    let mut draw = draws(11);
    let seen = simulate(20, 1000.0, |_| {
        if draw() < 0.3 {
            Signal::Overloaded
        } else {
            accepted()
        }
    });
    // One trial halves the window for an epoch now and then; most of the time it is where it
    // was, or larger.
    let kept = seen[3..].iter().filter(|s| s.window >= 64).count();
    assert!(kept * 10 >= (seen.len() - 3) * 8, "{seen:?}");
    assert!(seen.last().unwrap().window >= 64, "{seen:?}");
}

#[tokio::test]
async fn a_window_restored_after_noise_hands_its_places_out_at_once() {
    // A clock that starts 3 s ago, so that a real answer now closes the second epoch; a
    // window of at most 16.
    let start = Instant::now() - Duration::from_secs(3);
    let g = std::sync::Arc::new(Governor {
        concurrency: Concurrency::Adaptive { max: 16 },
        state: std::sync::Mutex::new(State::new(16.0, start)),
        wake: tokio::sync::Notify::new(),
    });
    let at = |ms: u64| start + Duration::from_millis(ms);
    let failing = |i: u64| {
        if i % 10 < 3 {
            Signal::Overloaded
        } else {
            accepted()
        }
    };
    {
        let mut s = g.state();
        // An epoch with 30 % failures halves the window to 8, as a trial.
        for i in 0..100 {
            s.learn(at(i * 10), at(i * 10), failing(i), Some(16));
        }
        s.learn(at(1001), at(1001), accepted(), Some(16));
        assert_eq!(s.window, 8.0);
        // The next epoch fails as much, all but its last answer.
        for i in 0..100 {
            s.learn(at(1010 + i * 10), at(1010 + i * 10), failing(i), Some(16));
        }
    }
    // Eight exchanges in flight, twelve more waiting for a place.
    let mut permits = Vec::new();
    for _ in 0..8 {
        permits.push(g.acquire().await);
    }
    let waiting: Vec<_> = (0..12)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move {
                let _permit = g.acquire().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            })
        })
        .collect();
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    assert_eq!(g.snapshot().in_flight, 8);
    // Its last answer: the failures did not fall, noise; the window is 16 again, and the
    // places it opens are taken at once, not one per later answer.
    permits.pop().unwrap().signal(Some(accepted()));
    assert_eq!(g.current().0, 16);
    for _ in 0..100 {
        if g.snapshot().in_flight == 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(g.snapshot().in_flight, 16, "the restored places are in use");
    for w in waiting {
        w.abort();
    }
}

#[tokio::test]
async fn the_window_grows_while_sends_are_accepted_fast() {
    let g = Governor::new(Concurrency::Adaptive { max: 64 });
    assert_eq!(g.current(), (4, None));
    for _ in 0..20 {
        answer(&g, accepted()).await;
    }
    assert_eq!(
        g.current().0,
        24,
        "slow start: one more per accepted answer"
    );
    for _ in 0..3000 {
        answer(&g, accepted()).await;
    }
    assert_eq!(g.current().0, 64, "never past the maximum");
}

#[test]
fn failures_that_fall_with_the_window_keep_it_halved() {
    let start = Instant::now();
    let mut s = State::new(64.0, start);
    let at = |ms: u64| start + Duration::from_millis(ms);
    // An epoch with 30 % failures: the window halves, as a trial.
    for i in 0..100 {
        let signal = if i % 10 < 3 {
            Signal::Overloaded
        } else {
            accepted()
        };
        s.learn(at(i * 10), at(i * 10), signal, Some(64));
    }
    s.learn(at(1001), at(1001), accepted(), Some(64));
    assert_eq!(s.window, 32.0);
    // The next epoch fails far less: the cut stays, and the window grows by one per window.
    for i in 0..100 {
        let signal = if i == 0 {
            Signal::Overloaded
        } else {
            accepted()
        };
        s.learn(at(1010 + i * 10), at(1010 + i * 10), signal, Some(64));
    }
    s.learn(at(2100), at(2100), accepted(), Some(64));
    assert!((32.0..36.0).contains(&s.window), "{}", s.window);
}

#[tokio::test]
async fn a_used_up_window_pauses_the_whole_pool_until_the_server_says() {
    let g = Governor::new(Concurrency::Adaptive { max: 64 });
    let wait = Signal::RateLimited(Some(Duration::from_millis(300)));
    answer(&g, accepted()).await;
    answer(&g, wait).await;
    assert_eq!(
        g.snapshot().paused,
        None,
        "one refusal among the first answers: no pause"
    );
    for _ in 0..4 {
        answer(&g, accepted()).await;
    }
    for _ in 0..4 {
        answer(&g, wait).await;
    }
    assert!(
        g.snapshot().paused.is_some(),
        "5 of 10 refused in the last second"
    );
    let started = Instant::now();
    drop(g.acquire().await);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "as many refused as accepted in the last second: the pool waited"
    );
}

#[tokio::test]
async fn a_rate_limit_nearly_used_up_paces_the_pool_before_any_refusal() {
    let g = Governor::new(Concurrency::Adaptive { max: 64 });
    for remaining in (20..60).rev() {
        let signal = Signal::Accepted {
            remaining: Some(remaining),
            limit: Some(300),
        };
        answer(&g, signal).await;
        assert_eq!(g.current().1, None, "room left: {remaining}");
    }
    let low = Signal::Accepted {
        remaining: Some(15),
        limit: Some(300),
    };
    answer(&g, low).await;
    let pace = g.current().1.expect("paced at 1/20 of the limit left");
    assert!(
        (38.9..=39.0).contains(&pace),
        "19/20 of the 41 accepted: {pace}"
    );
    assert_eq!(g.snapshot().reason, PaceReason::Remaining(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_concurrency_never_adapts_and_a_waiter_goes_when_a_place_is_freed() {
    let g = std::sync::Arc::new(Governor::new(Concurrency::Fixed(2)));
    answer(&g, refused()).await;
    answer(&g, Signal::Overloaded).await;
    assert_eq!(g.current(), (2, None));
    let (a, _b) = (g.acquire().await, g.acquire().await);
    let waiter = tokio::spawn({
        let g = g.clone();
        async move { drop(g.acquire().await) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiter.is_finished(),
        "a third waits while two are in flight"
    );
    drop(a);
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken when a place is freed")
        .unwrap();
}

#[tokio::test]
async fn a_cancelled_wait_or_exchange_gives_its_place_back() {
    let g = Governor::new(Concurrency::Fixed(1));
    let held = g.acquire().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(20), g.acquire())
            .await
            .is_err()
    );
    drop(held);
    let again = tokio::time::timeout(Duration::from_millis(500), g.acquire()).await;
    assert!(again.is_ok(), "the place came back");
}

#[test]
fn health_counts_answers_and_unanswered_exchanges_in_a_row() {
    use crate::retry::Attempt;
    let mut h = Health::default();
    let lost: crate::execute::steps::Exchanged = Err((Attempt::ConnectError, "refused".into()));
    h.note(&lost);
    h.note(&lost);
    let a = h.answers;
    assert_eq!((a.exchanges, a.answered, a.unanswered_in_a_row), (2, 0, 2));
    assert_eq!(h.last_failure.as_deref(), Some("refused"));
}

/// Drives `s` like a pool that always has records to send: fills the window, then answers the
/// oldest exchange after `latency(in_flight, draw)`; returns the window after each 1,000 answers.
fn queue(s: &mut State, answers: usize, mut latency: impl FnMut(usize) -> Duration) -> Vec<usize> {
    let start = Instant::now();
    let mut now = start;
    let mut windows = Vec::new();
    for i in 1..=answers {
        while let Next::Go(_) = s.try_take(now) {}
        let took = latency(s.in_flight);
        now += took / s.in_flight.max(1) as u32;
        s.in_flight -= 1;
        s.learn(now - took, now, accepted(), Some(256));
        if i % 1000 == 0 {
            windows.push((s.window as usize).max(1));
        }
    }
    windows
}

#[test]
fn a_queue_of_our_own_narrows_the_window_and_jitter_does_not() {
    // An API that serves 20 exchanges per ms after 1 ms: what waits beyond that is our queue.
    let start = Instant::now();
    let mut s = State::new(4.0, start);
    let windows = queue(&mut s, 20_000, |in_flight| {
        Duration::from_micros(1000 + 50 * in_flight as u64)
    });
    let late = &windows[5..];
    assert!(
        late.iter().all(|w| (20..=80).contains(w)),
        "held where the latency stays within twice the base plus 1 ms (about 60), not at 256: {windows:?}"
    );
    // An API whose latency is 20..120 ms whatever is in flight: the window keeps growing (by
    // one per window of fast answers once a slow one ended the slow start), never narrowed.
    let mut s = State::new(4.0, start);
    let mut draw = draws(3);
    let windows = queue(&mut s, 20_000, |_| {
        Duration::from_micros(20_000 + (100_000.0 * draw()) as u64)
    });
    assert!(
        windows.windows(2).all(|w| w[0] <= w[1]) && windows[windows.len() - 1] >= 150,
        "{windows:?}"
    );
}
