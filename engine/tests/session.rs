//! A plan made over many calls (the streaming session) is the plan one call makes, byte for
//! byte, however the data is cut into chunks; misuse is refused with a clear error.

mod common;

use classbridge_engine::abi::{Entry, dispatch};
use classbridge_engine::session::{Chunk, OpsRequest, PlanSession, chunks_of, classroom_pieces};
use classbridge_engine::{SyncInput, SyncPlan};
use common::*;
use serde_json::{Value, json};

/// Plans `input` through a native session fed `chunks`, reading the ops `page` at a time.
fn through_session(input: SyncInput, rows_per_chunk: usize, page: usize) -> SyncPlan {
    let (start, chunks) = chunks_of(input, rows_per_chunk);
    let (mut session, expects) = PlanSession::begin(start).expect("begin");
    assert!(!expects.sources.is_empty());
    for chunk in chunks {
        // Through JSON, as the ABI takes it.
        let json = serde_json::to_vec(&chunk.expect("chunk")).expect("chunk JSON");
        session.feed_json(&json).expect("feed");
    }
    let header = session.finish().expect("finish");
    let mut plan = header.plan;
    assert!(plan.ops.is_empty(), "the header leaves the operations out");
    assert!(plan.id.is_empty(), "the id comes with the last page");
    let mut from = Some(0);
    while let Some(at) = from {
        let got = session
            .ops(OpsRequest {
                from: at,
                max: page,
            })
            .expect("ops");
        assert!(got.ops.len() <= page);
        assert_eq!(got.plan_id.is_some(), got.next.is_none(), "{:?}", got.next);
        plan.ops.extend(got.ops);
        from = got.next;
        plan.id = got.plan_id.unwrap_or_default();
    }
    assert_eq!(plan.ops.len(), header.op_count);
    plan
}

fn bytes(plan: &SyncPlan) -> Vec<u8> {
    serde_json::to_vec(plan).expect("plan JSON")
}

#[test]
fn a_session_plans_what_one_call_plans_however_it_is_chunked() {
    // A first sync, and a month later with the state, a rename and grades.
    let mut month = after_day1("2026-10-01T06:00:00Z");
    edit(&mut month, "classes", "cl1", |c| {
        c["title"] = json!("Algebra I (honors)");
    });
    month["classroom"] = classroom_graded();
    for v in [day1(), month] {
        let one_call = bytes(&plan_once(&v));
        for (rows, page) in [(1, 1), (7, 5), (100_000, 100_000)] {
            assert_eq!(
                bytes(&through_session(input(&v), rows, page)),
                one_call,
                "rows per chunk {rows}, ops per page {page}"
            );
        }
    }
}

#[test]
fn classroom_listings_fed_page_by_page_plan_as_one_chunk() {
    // A district's listings are too large for one call: the host feeds them in pieces.
    let mut month = after_day1("2026-10-01T06:00:00Z");
    month["classroom"] = classroom_graded();
    // Records that cannot be read are reported in the same order however they arrive.
    let listings = month["classroom"].as_object_mut().expect("listings");
    for (list, page) in [
        (
            "students",
            json!({"students": [{"courseId": 7}, "not an object"]}),
        ),
        ("students", json!("not a page")),
        (
            "studentSubmissions",
            json!({"studentSubmissions": [{"courseId": "c-x", "courseWorkId": "w-x", "id": "s-bad",
                "userId": "u-x", "updateTime": "yesterday"}]}),
        ),
        ("courseWork", json!({"courseWork": [{"courseId": "c-x"}]})),
    ] {
        listings
            .entry(list)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("pages")
            .push(page);
    }
    let planned = plan_once(&month);
    let reported = |what: &str| {
        planned
            .record_issues
            .iter()
            .any(|i| i.source == "classroom" && i.reason.contains(what))
    };
    assert!(reported("not an object"), "{:?}", planned.record_issues);
    assert!(
        reported("not an RFC 3339 time"),
        "{:?}",
        planned.record_issues
    );
    let one_call = bytes(&planned);
    let mut whole = input(&month);
    let listings = std::mem::take(&mut whole.classroom);
    let mut pieces = classroom_pieces(listings, 1);
    assert!(pieces.len() > 5, "one page a piece: {}", pieces.len());
    // Lists may come in any order (pages of one list in theirs): the last lists first.
    let list_of = |p: &classbridge_engine::input::ClassroomListings| {
        [
            !p.courses.is_empty(),
            !p.teachers.is_empty(),
            !p.students.is_empty(),
            !p.topics.is_empty(),
            !p.course_work.is_empty(),
            !p.student_submissions.is_empty(),
        ]
        .iter()
        .position(|&has| has)
        .unwrap_or(0)
    };
    pieces.sort_by_key(|p| std::cmp::Reverse(list_of(p)));
    let (start, chunks) = chunks_of(whole, 7);
    let (mut session, _) = PlanSession::begin(start).expect("begin");
    let pieces = pieces.into_iter().map(|p| Chunk::Classroom(Box::new(p)));
    for chunk in chunks.map(|c| c.expect("chunk")).chain(pieces) {
        let json = serde_json::to_vec(&chunk).expect("chunk JSON");
        session.feed_json(&json).expect("feed");
    }
    let header = session.finish().expect("finish");
    let mut plan = header.plan;
    let page = session
        .ops(OpsRequest {
            from: 0,
            max: usize::MAX,
        })
        .expect("ops");
    plan.ops = page.ops;
    plan.id = page.plan_id.expect("one page is the last");
    assert_eq!(bytes(&plan), one_call);
}

#[test]
fn the_session_entries_work_through_the_abi() {
    let v = after_day1("2026-10-01T06:00:00Z");
    let one_call = bytes(&plan_once(&v));
    let (start, chunks) = chunks_of(input(&v), 10);
    let chunks: Vec<Chunk> = chunks.map(|c| c.expect("chunk")).collect();
    let answer = |entry, request: &[u8]| -> Value {
        let out: Value = serde_json::from_slice(&dispatch(entry, request)).expect("JSON");
        assert_eq!(out["abiVersion"], classbridge_engine::abi::ABI_VERSION);
        out
    };
    let begun = answer(Entry::SessionBegin, &serde_json::to_vec(&start).unwrap());
    assert_eq!(begun["ok"]["state"], "rows", "{begun}");
    let n = chunks.len();
    for chunk in &chunks {
        answer(Entry::SessionFeed, &serde_json::to_vec(chunk).unwrap());
    }
    let header = answer(Entry::SessionFinish, b"");
    let mut plan: SyncPlan = serde_json::from_value(header["ok"]["plan"].clone()).unwrap();
    let mut from = json!(0);
    while let Some(at) = from.as_u64() {
        let page = answer(
            Entry::SessionOps,
            json!({"from": at, "max": 3}).to_string().as_bytes(),
        );
        let ops: Vec<_> = serde_json::from_value(page["ok"]["ops"].clone()).unwrap();
        plan.ops.extend(ops);
        from = page["ok"]["next"].clone();
        if from.is_null() {
            plan.id = page["ok"]["planId"]
                .as_str()
                .expect("the last page's planId")
                .into();
        } else {
            assert!(page["ok"].get("planId").is_none(), "{page}");
        }
    }
    assert!(n > 3);
    assert_eq!(bytes(&plan), one_call);
}

#[test]
fn misuse_of_a_session_is_refused_with_a_reason() {
    let v = day1();
    let (start, chunks) = chunks_of(input(&v), 50);
    // Feeding or reading before beginning.
    let fresh = std::thread::spawn(|| {
        let out: Value =
            serde_json::from_slice(&dispatch(Entry::SessionFeed, b"{}")).expect("JSON");
        out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
    .join()
    .unwrap();
    assert!(fresh.contains("cb_session_begin first"), "{fresh}");

    let (mut session, _) = PlanSession::begin(start.clone()).expect("begin");
    assert!(session.ops(OpsRequest { from: 0, max: 1 }).is_err());
    let bad_row = br#"{"stateRows": [["roster", "", "users", "u1", {"sourcedId": 5}]]}"#;
    let err = session.feed_json(bad_row).unwrap_err().to_string();
    assert!(
        err.contains("state row roster/users") && err.contains("u1"),
        "{err}"
    );
    // Names with escapes are read as well as those read in place.
    let escaped = br#"{"stateRows": [["roster", "", "us\u0065rs", "u\"2", {"sourcedId": 5}]]}"#;
    let err = session.feed_json(escaped).unwrap_err().to_string();
    assert!(
        err.contains("state row roster/users") && err.contains("u\"2"),
        "{err}"
    );
    let unknown = br#"{"stateRows": [["classroom", "", "rooms", "x", {}]]}"#;
    let err = session.feed_json(unknown).unwrap_err().to_string();
    assert!(err.contains("no state table 'rooms'"), "{err}");
    let not_a_chunk = session
        .feed_json(br#"{"pages": []}"#)
        .unwrap_err()
        .to_string();
    assert!(not_a_chunk.contains("session chunk"), "{not_a_chunk}");
    for chunk in chunks {
        session.feed(chunk.expect("chunk")).expect("feed");
    }
    session.finish().expect("finish");
    assert!(session.finish().is_err(), "finishing twice");
    let late = session
        .feed(Chunk::StateRows(Vec::new()))
        .unwrap_err()
        .to_string();
    assert!(late.contains("finished"), "{late}");

    let mut bad = start;
    bad.config.sources.clear();
    assert!(
        PlanSession::begin(bad).is_err(),
        "a bad config fails at the start"
    );
}

#[test]
fn the_plan_id_comes_right_however_the_pages_are_read() {
    let mut v = after_day1("2026-10-01T06:00:00Z");
    v["classroom"] = classroom_graded();
    let one_call = plan_once(&v);
    let session_of = || {
        let (start, chunks) = chunks_of(input(&v), 50);
        let (mut session, _) = PlanSession::begin(start).expect("begin");
        for chunk in chunks {
            session.feed(chunk.expect("chunk")).expect("feed");
        }
        session
    };
    // Skipping ahead to the last page: the operations passed over are hashed too.
    let mut session = session_of();
    let n = session.finish().expect("finish").op_count;
    assert!(n > 4, "{n}");
    let last = session
        .ops(OpsRequest {
            from: n - 2,
            max: 10,
        })
        .expect("ops");
    assert_eq!(last.plan_id.as_deref(), Some(one_call.id.as_str()));
    // Read again, from the start: the same id, on the last page only.
    let first = session.ops(OpsRequest { from: 0, max: 1 }).expect("ops");
    assert_eq!(first.plan_id, None);
    let again = session.ops(OpsRequest { from: 0, max: n }).expect("ops");
    assert_eq!(again.plan_id, last.plan_id);
    // A native embedder taking the plan whole, no page read: the same id.
    let mut session = session_of();
    session.finish().expect("finish");
    assert_eq!(session.into_plan().expect("plan").id, one_call.id);
}

#[test]
fn chunks_written_as_text_are_the_typed_chunks_written_as_json() {
    // A host feeds `Chunks::texts` (each row written once, from its record); an embedder may
    // iterate typed chunks, or cut them from a borrowed input: all three are the same bytes.
    let mut month = after_day1("2026-10-01T06:00:00Z");
    month["classroom"] = classroom_graded();
    for rows in [1, 7, 100_000] {
        let (_, typed) = chunks_of(input(&month), rows);
        let typed: Vec<Vec<u8>> = typed
            .map(|c| serde_json::to_vec(&c.expect("chunk")).expect("chunk JSON"))
            .collect();
        let (_, texts) = chunks_of(input(&month), rows);
        let texts: Vec<Vec<u8>> = texts.texts().map(|t| t.expect("text")).collect();
        let whole = input(&month);
        let borrowed: Vec<Vec<u8>> = classbridge_engine::session::chunk_texts(&whole, rows)
            .map(|t| t.expect("text"))
            .collect();
        let state_chunks = typed
            .iter()
            .filter(|t| t.starts_with(b"{\"stateRows\""))
            .count();
        assert!(state_chunks > usize::from(rows < 100_000), "{state_chunks}");
        assert_eq!(texts, typed, "{rows} rows a chunk");
        assert_eq!(borrowed, typed, "{rows} rows a chunk, borrowed");
    }
}
