//! `RedisBus` against a real, throwaway `redis-server`: broadcasts reach the other nodes
//! of one deployment and not another deployment's (another database of the same Redis),
//! answers reach only the node they name, and a node hears again after Redis restarts.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use ferromcp_core::bus::{Audience, Bus, BusSink, Envelope, Payload, WireOutcome};
use ferromcp_redis::RedisBus;

/// Records what a bus delivers.
#[derive(Default)]
struct Recorder(Mutex<Vec<Envelope>>);

impl BusSink for Recorder {
    fn deliver(&self, envelope: Envelope) -> bool {
        self.0.lock().unwrap().push(envelope);
        true
    }
    fn is_open(&self) -> bool {
        true
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

async fn node(url: &str) -> (RedisBus, Arc<Recorder>) {
    let bus = RedisBus::connect(url).await.expect("connect");
    let rec = Arc::new(Recorder::default());
    bus.start(rec.clone());
    (bus, rec)
}

fn notify(from: u32, text: &str) -> Envelope {
    Envelope { from, payload: Payload::Notify { audience: Audience::All, message: text.into() } }
}

/// Waits (bounded) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes until the subscribers are listening (SUBSCRIBE is asynchronous), then once more.
async fn publish_until_heard(bus: &RedisBus, rec: &Recorder, env: Envelope) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while rec.count() == 0 {
        assert!(Instant::now() < deadline, "nothing heard");
        bus.publish(env.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn broadcasts_stay_in_their_deployment_and_answers_reach_their_node() {
    let redis = RedisServer::start();
    let base = redis.url();
    let (a, _) = node(&format!("{base}1")).await;
    let (b, heard_b) = node(&format!("{base}1")).await;
    let (c, heard_c) = node(&format!("{base}2")).await;
    // The third node of deployment 1 only listens, to be told apart from the answer's target.
    let (_d, heard_d) = node(&format!("{base}1")).await;
    // A second node of deployment 2, to know that c listens.
    let (e, _) = node(&format!("{base}2")).await;
    assert_ne!(a.broadcast_channel(), c.broadcast_channel(), "the database number names the channels");

    publish_until_heard(&a, &heard_b, notify(a.node(), "warm-up")).await;
    publish_until_heard(&a, &heard_d, notify(a.node(), "warm-up")).await;
    publish_until_heard(&e, &heard_c, notify(e.node(), "warm-up")).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the last warm-ups land
    let (b0, c0, d0) = (heard_b.count(), heard_c.count(), heard_d.count());

    a.publish(notify(a.node(), "hello"));
    let id = (i64::from(b.node()) << 32) | 7;
    let answer = Envelope {
        from: a.node(),
        payload: Payload::Answer { session: "s".into(), id, outcome: WireOutcome::Result("{}".into()) },
    };
    a.publish(answer.clone());
    until("b to hear the broadcast and the answer", || heard_b.count() == b0 + 2).await;
    until("d to hear the broadcast", || heard_d.count() == d0 + 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(heard_d.count(), d0 + 1, "the answer is for b only");
    assert_eq!(heard_c.count(), c0, "another database's deployment hears nothing");
    let got = heard_b.0.lock().unwrap()[b0..].to_vec();
    assert_eq!(got, vec![notify(a.node(), "hello"), answer], "in order, intact");
}

#[tokio::test]
async fn a_node_hears_again_after_redis_restarts() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let url = redis.url();
    let (a, _) = node(&url).await;
    let (_b, heard) = node(&url).await;
    publish_until_heard(&a, &heard, notify(a.node(), "before")).await;
    redis.kill();
    let _back = RedisServer::start_on(port);
    let before = heard.count();
    // The subscriber reconnects with backoff; the publisher's connection too.
    let deadline = Instant::now() + Duration::from_secs(15);
    while heard.count() == before {
        assert!(Instant::now() < deadline, "the node never heard again after the restart");
        a.publish(notify(a.node(), "after"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
