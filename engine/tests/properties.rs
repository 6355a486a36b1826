//! Properties that must hold for any district, not just the fixture.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use classbridge_engine::plan::HoldCode;
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A generated district: schools, teachers, students, classes and enrollments.
fn district(schools: usize, classes: usize, students: usize, seed: u64) -> Value {
    let mut v = day1();
    let mut rng = seed;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as usize
    };
    let orgs: Vec<Value> = (0..schools).map(|s| json!({"sourcedId": format!("s{s}"), "name": format!("School {s}"), "type": "school"})).collect();
    let mut users = Vec::new();
    let mut class_list = Vec::new();
    let mut enrollments = Vec::new();
    for c in 0..classes {
        let school = format!("s{}", c % schools.max(1));
        users.push(json!({"sourcedId": format!("t{c}"), "role": "teacher", "orgs": [{"sourcedId": school}], "givenName": "T", "familyName": format!("{c}"), "email": format!("t{c}@d.org")}));
        class_list.push(json!({"sourcedId": format!("c{c}"), "title": format!("Class {c}"), "course": {"sourcedId": "c1"}, "school": {"sourcedId": school}, "terms": [{"sourcedId": "t1"}]}));
        enrollments.push(json!({"sourcedId": format!("et{c}"), "user": {"sourcedId": format!("t{c}")}, "class": {"sourcedId": format!("c{c}")}, "school": {"sourcedId": school}, "role": "teacher", "primary": true}));
    }
    for s in 0..students {
        let school = format!("s{}", s % schools.max(1));
        users.push(json!({"sourcedId": format!("u{s}"), "role": "student", "orgs": [{"sourcedId": school}], "givenName": "S", "familyName": format!("{s}"), "email": format!("u{s}@d.org")}));
        for k in 0..2 {
            let c = next() % classes.max(1);
            enrollments.push(json!({"sourcedId": format!("e{s}-{k}"), "user": {"sourcedId": format!("u{s}")}, "class": {"sourcedId": format!("c{c}")}, "school": {"sourcedId": school}, "role": "student"}));
        }
    }
    let page = |key: &str, items: Vec<Value>| json!({"pages": items.chunks(7).map(|c| json!({key: c})).collect::<Vec<_>>()});
    let cols = collections(&mut v);
    cols["orgs"] = page("orgs", orgs);
    cols["users"] = page("users", users);
    cols["classes"] = page("classes", class_list);
    cols["enrollments"] = page("enrollments", enrollments);
    cols["courses"] = json!({"pages": [{"courses": [{"sourcedId": "c1", "title": "Course", "org": {"sourcedId": "s0"}}]}]});
    v
}

/// Shuffles every collection's records across its pages.
fn shuffled(v: &Value, seed: u64) -> Value {
    let mut out = v.clone();
    let mut rng = seed | 1;
    for (name, coll) in collections(&mut out).as_object_mut().unwrap() {
        let key = name.clone();
        let pages = coll["pages"].as_array().unwrap();
        let sizes: Vec<usize> = pages
            .iter()
            .map(|p| p[&key].as_array().unwrap().len())
            .collect();
        let mut all: Vec<Value> = pages
            .iter()
            .flat_map(|p| p[&key].as_array().unwrap().clone())
            .collect();
        for i in (1..all.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            all.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let mut it = all.into_iter();
        coll["pages"] = Value::Array(
            sizes
                .iter()
                .map(|n| json!({key.clone(): it.by_ref().take(*n).collect::<Vec<_>>()}))
                .collect(),
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn shuffled_input_gives_the_same_plan(schools in 1usize..4, classes in 1usize..6, students in 0usize..25, seed in any::<u64>(), shuffle in any::<u64>()) {
        let v = district(schools, classes, students, seed);
        let a = plan(&v);
        let b = plan(&shuffled(&v, shuffle));
        prop_assert_eq!(&a.id, &b.id);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }

    #[test]
    fn unchanged_sources_plan_nothing_after_a_clean_commit(schools in 1usize..4, classes in 1usize..6, students in 0usize..25, seed in any::<u64>()) {
        let v = district(schools, classes, students, seed);
        let (_, state) = run_clean(&v);
        let mut again = v.clone();
        again["previousState"] = serde_json::to_value(&state).unwrap();
        let p = plan(&again);
        prop_assert!(p.ops.is_empty(), "{:?}", keys(&p));
        prop_assert!(p.roster_changes.is_empty());
        prop_assert!(p.holds.is_empty());
    }

    #[test]
    fn idempotency_keys_are_unique_and_stable(schools in 1usize..4, classes in 1usize..6, students in 0usize..25, seed in any::<u64>()) {
        let v = district(schools, classes, students, seed);
        let a = plan(&v);
        let mut seen = std::collections::BTreeSet::new();
        for op in &a.ops {
            prop_assert!(seen.insert(op.key.clone()), "duplicate key {}", op.key);
        }
        let ids: std::collections::BTreeSet<_> = a.ops.iter().map(|o| o.op_id.clone()).collect();
        prop_assert_eq!(ids.len(), a.ops.len());
        // Another run with one more student keeps every earlier key.
        let mut w = v.clone();
        add(&mut w, "users", json!({"sourcedId": "extra", "role": "student", "email": "extra@d.org"}));
        let b = plan(&w);
        for op in &a.ops {
            prop_assert!(b.ops.iter().any(|o| o.key == op.key && o.op_id == op.op_id));
        }
    }

    #[test]
    fn an_emptied_source_is_always_held(schools in 1usize..4, classes in 1usize..6, students in 1usize..25, seed in any::<u64>(), which in 0usize..3) {
        let v = district(schools, classes, students, seed);
        let (_, state) = run_clean(&v);
        let mut next = v.clone();
        next["previousState"] = serde_json::to_value(&state).unwrap();
        let name = ["users", "enrollments", "classes"][which];
        collections(&mut next)[name] = json!({"pages": [{name: []}]});
        let p = plan(&next);
        prop_assert!(p.holds.iter().any(|h| h.code == HoldCode::EmptySource), "{:?}", p.holds);
        prop_assert!(p.needs_approval());
    }

    #[test]
    fn bad_records_never_stop_good_ones(students in 1usize..25, seed in any::<u64>(), junk in proptest::collection::vec(0usize..5, 1..8)) {
        let v = district(2, 3, students, seed);
        let clean = plan(&v);
        let mut dirty = v.clone();
        for (i, kind) in junk.iter().enumerate() {
            let bad = match kind {
                0 => json!({"role": "student"}),
                1 => json!({"sourcedId": format!("bad{i}"), "role": "sorcerer"}),
                2 => json!({"sourcedId": format!("bad{i}"), "role": "student", "enabledUser": "perhaps"}),
                3 => json!(42),
                _ => json!({"sourcedId": format!("bad{i}"), "role": "student", "email": {"x": 1}}),
            };
            add(&mut dirty, "users", bad);
        }
        let p = plan(&dirty);
        prop_assert_eq!(&base(&dirty, &p).roster.users, &base(&v, &clean).roster.users);
        prop_assert_eq!(keys(&p), keys(&clean));
        prop_assert!(p.record_issues.len() >= junk.len());
    }
}
