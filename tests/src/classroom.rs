//! A stand-in Google Classroom API v1 on loopback: courses (alias as id on create, 409
//! ALREADY_EXISTS on a taken alias, owner required), aliases, teachers, students, topics,
//! courseWork and studentSubmissions with pageToken paging, a per-minute quota answering 429
//! RESOURCE_EXHAUSTED with Retry-After, and helpers that play teachers grading work.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::change_feed::{self, ChangeFeed, FeedError};
use crate::faults::Faults;

#[derive(Clone, Debug, Default)]
pub struct Course {
    pub id: String,
    pub body: Value,
    pub aliases: Vec<String>,
    /// email -> member
    pub teachers: BTreeMap<String, Value>,
    pub students: BTreeMap<String, Value>,
    pub topics: Vec<Value>,
    pub course_work: Vec<Value>,
    pub submissions: Vec<Value>,
}

#[derive(Default)]
pub struct World {
    pub courses: BTreeMap<String, Course>,
    pub next_id: u64,
    /// Registrations and the Pub/Sub subscription they publish to.
    pub feed: ChangeFeed,
    /// Classroom's limits, enforced as Google does (tests lower them).
    pub limits: Limits,
    /// The Workspace domains whose people can be added to courses directly; anyone else is
    /// refused with 403 `@CannotDirectAddUser` and must be invited. Empty: anyone.
    pub domains: Vec<String>,
    /// Invitations by id (`invitations.create`), until accepted or deleted.
    pub invitations: BTreeMap<String, Value>,
    /// How many more invitations may be created before `@UserInvitationQuotaExhausted`.
    pub invitation_quota: Option<usize>,
    /// Guardian invitations by id (`userProfiles.guardianInvitations`).
    pub guardian_invitations: BTreeMap<String, Value>,
    /// How many guardian links (pending or completed invitations) a student may have; past
    /// it a create is refused 429 `RESOURCE_EXHAUSTED`, as Google documents. Unset: no limit.
    pub guardian_link_limit: Option<usize>,
    /// (student, guardian) pairs where the guardian has declined too many invitations: a
    /// create is refused 403 `PERMISSION_DENIED`, as Google documents.
    pub guardian_declined: BTreeSet<(String, String)>,
    /// Lookups derived from `courses`: scanning every course for each request made a
    /// district's first sync quadratic (at M, 80% of the stand-in's time went to finding a
    /// course by alias and counting a person's courses). Built on demand, kept in step by
    /// the API's own writes, and dropped whenever a test reaches into the world
    /// (`StandInClassroom::world`), which may change anything.
    derived: Derived,
}

#[derive(Default)]
struct Derived {
    /// Course id by alias.
    by_alias: Option<HashMap<String, String>>,
    /// How many courses each person (by lowercased email) is in, for
    /// `@UserGroupsMembershipLimitReached`.
    memberships: Option<HashMap<String, usize>>,
}

impl World {
    /// Whether `email` is someone the domain admin may add directly.
    fn in_domain(&self, email: &str) -> bool {
        self.domains.is_empty()
            || email
                .rsplit_once('@')
                .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }

    /// The invited person accepts every invitation sent to them, as they would in
    /// Classroom: they join the courses, and the invitations are gone. Answers how many.
    pub fn accept_invitations(&mut self, email: &str) -> usize {
        let email = email.to_ascii_lowercase();
        let mine: Vec<String> = self
            .invitations
            .iter()
            .filter(|(_, i)| {
                i["userId"].as_str().map(str::to_ascii_lowercase) == Some(email.clone())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &mine {
            let Some(invitation) = self.invitations.remove(id) else {
                continue;
            };
            let course_id = invitation["courseId"].as_str().unwrap_or_default();
            let role = if invitation["role"] == "STUDENT" {
                "students"
            } else {
                "teachers"
            };
            if let Some(course) = self.courses.get_mut(course_id) {
                let m = member(course_id, &email);
                if role == "students" {
                    course.students.insert(email.clone(), m);
                } else {
                    course.teachers.insert(email.clone(), m);
                }
                self.feed.publish(
                    &format!("courses.{role}"),
                    "CREATED",
                    json!({"courseId": course_id, "userId": user_id(&email)}),
                );
            }
        }
        if !mine.is_empty() {
            self.derived.memberships = None;
        }
        mine.len()
    }
}

/// `userProfiles.guardianInvitations`, validated as Google documents them: a create sets
/// exactly `studentId` (the path's student) and `invitedEmailAddress`, one pending
/// invitation per student and address (409), and the only change is `state` to `COMPLETE`
/// (withdrawn), allowed while pending.
fn guardian_route(
    w: &mut World,
    method: &Method,
    student: &str,
    rest: &[&str],
    body: &Value,
    q: &BTreeMap<String, String>,
    writes: &AtomicU64,
) -> Response {
    let invalid = |m: &str| google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", m);
    let student = student.to_ascii_lowercase();
    let mine =
        |i: &Value| i["studentId"].as_str().map(str::to_ascii_lowercase) == Some(student.clone());
    match (method, rest) {
        (&Method::POST, []) => {
            let fields: Vec<&String> = body
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            if fields
                .iter()
                .any(|f| *f != "studentId" && *f != "invitedEmailAddress")
            {
                return invalid("Only studentId and invitedEmailAddress may be set.");
            }
            if body["studentId"].as_str().map(str::to_ascii_lowercase) != Some(student.clone()) {
                return invalid("studentId must be the student of the path.");
            }
            let Some(email) = body["invitedEmailAddress"]
                .as_str()
                .filter(|e| e.contains('@') && e.len() <= 254)
            else {
                return invalid("invitedEmailAddress is not a valid email address.");
            };
            let email = email.to_ascii_lowercase();
            if w.guardian_declined
                .contains(&(student.clone(), email.clone()))
            {
                return google_error(
                    StatusCode::FORBIDDEN,
                    "PERMISSION_DENIED",
                    "The guardian has rejected too many requests for this student.",
                );
            }
            let links = w
                .guardian_invitations
                .values()
                .filter(|i| mine(i) && matches!(i["state"].as_str(), Some("PENDING" | "COMPLETE")))
                .count();
            if w.guardian_link_limit.is_some_and(|limit| links >= limit) {
                return google_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    "The student has exceeded the guardian link limit.",
                );
            }
            let pending = w.guardian_invitations.values().any(|i| {
                mine(i) && i["invitedEmailAddress"] == email.as_str() && i["state"] == "PENDING"
            });
            if pending {
                return google_error(
                    StatusCode::CONFLICT,
                    "ALREADY_EXISTS",
                    "Requested entity already exists",
                );
            }
            writes.fetch_add(1, Ordering::SeqCst);
            w.next_id += 1;
            let id = format!("ginv{}", w.next_id);
            let invitation = json!({"invitationId": id, "studentId": user_id(&student), "invitedEmailAddress": email, "state": "PENDING", "creationTime": "2026-01-01T00:00:00Z"});
            // Kept with the student as addressed, so lists by email find it.
            let mut stored = invitation.clone();
            stored["studentId"] = json!(student);
            w.guardian_invitations.insert(id, stored);
            axum::Json(invitation).into_response()
        }
        (&Method::GET, []) => {
            let list = w
                .guardian_invitations
                .values()
                .filter(|i| mine(i))
                .filter(|i| {
                    q.get("invitedEmailAddress")
                        .is_none_or(|e| i["invitedEmailAddress"] == e.to_ascii_lowercase().as_str())
                })
                .filter(|i| q.get("states").is_none_or(|s| i["state"] == s.as_str()))
                .cloned()
                .collect();
            page(list, "guardianInvitations", q)
        }
        (&Method::GET, [id]) => match w.guardian_invitations.get(*id).filter(|i| mine(i)) {
            Some(i) => axum::Json(i.clone()).into_response(),
            None => google_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Requested entity was not found.",
            ),
        },
        (&Method::PATCH, [id]) => {
            if q.get("updateMask").map(String::as_str) != Some("state")
                || body["state"] != "COMPLETE"
            {
                return invalid("Only state may change, and only to COMPLETE.");
            }
            let Some(invitation) = w.guardian_invitations.get_mut(*id).filter(|i| mine(i)) else {
                return google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                );
            };
            if invitation["state"] != "PENDING" {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "FAILED_PRECONDITION",
                    "The guardian invitation is not pending.",
                );
            }
            writes.fetch_add(1, Ordering::SeqCst);
            invitation["state"] = json!("COMPLETE");
            axum::Json(invitation.clone()).into_response()
        }
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found."),
    }
}

/// `invitations.create`, validated as Google documents it: the course by id, a role, one
/// invitation per person and course, none to a member, and the invitation quota.
fn create_invitation(w: &mut World, body: &Value, writes: &AtomicU64) -> Response {
    let (Some(course_id), Some(user)) = (body["courseId"].as_str(), body["userId"].as_str()) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "courseId and userId are required",
        );
    };
    let role = body["role"].as_str().unwrap_or_default();
    if !["STUDENT", "TEACHER", "OWNER"].contains(&role) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "role must be STUDENT, TEACHER or OWNER",
        );
    }
    let email = user.to_ascii_lowercase();
    let Some(course) = w.courses.get(course_id) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Requested entity was not found.",
        );
    };
    if course.students.contains_key(&email) || course.teachers.contains_key(&email) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            "The user already has this role or a role with greater permissions.",
        );
    }
    let taken = w.invitations.values().any(|i| {
        i["courseId"] == course_id
            && i["userId"].as_str().map(str::to_ascii_lowercase) == Some(email.clone())
    });
    if taken {
        return google_error(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "Requested entity already exists",
        );
    }
    if let Some(left) = w.invitation_quota.as_mut() {
        if *left == 0 {
            return google_error(
                StatusCode::BAD_REQUEST,
                "FAILED_PRECONDITION",
                "@UserInvitationQuotaExhausted The user has been sent too many invitations.",
            );
        }
        *left -= 1;
    }
    writes.fetch_add(1, Ordering::SeqCst);
    w.next_id += 1;
    let id = format!("inv{}", w.next_id);
    let invitation = json!({"id": id, "courseId": course_id, "userId": email, "role": role});
    w.invitations.insert(id, invitation.clone());
    axum::Json(invitation).into_response()
}

/// Google Workspace for Education's limits: 1,000 members and 50 teachers per class, 1,000
/// classes per person. An addition past one is refused with 400 FAILED_PRECONDITION and the
/// documented code (`@CourseMemberLimitReached`, `@CourseTeacherLimitReached`,
/// `@UserGroupsMembershipLimitReached`).
pub struct Limits {
    pub members_per_class: usize,
    pub teachers_per_class: usize,
    pub classes_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            members_per_class: 1000,
            teachers_per_class: 50,
            classes_per_user: 1000,
        }
    }
}

impl World {
    /// The id of the course `key` names: its id or one of its aliases.
    fn resolve(&mut self, key: &str) -> Option<String> {
        if self.courses.contains_key(key) {
            return Some(key.to_string());
        }
        let courses = &self.courses;
        let by_alias = self.derived.by_alias.get_or_insert_with(|| {
            courses
                .values()
                .flat_map(|c| c.aliases.iter().map(|a| (a.clone(), c.id.clone())))
                .collect()
        });
        by_alias.get(key).cloned()
    }

    /// How many courses `email` is in.
    fn courses_joined(&mut self, email: &str) -> usize {
        let courses = &self.courses;
        let counts = self.derived.memberships.get_or_insert_with(|| {
            let mut counts = HashMap::new();
            for c in courses.values() {
                for e in c.teachers.keys().chain(c.students.keys()) {
                    *counts.entry(e.clone()).or_insert(0) += 1;
                }
            }
            counts
        });
        counts.get(email).copied().unwrap_or(0)
    }

    /// Keeps the membership counts (when built) in step with an addition.
    fn count_membership(&mut self, email: &str) {
        if let Some(counts) = &mut self.derived.memberships {
            *counts.entry(email.to_string()).or_insert(0) += 1;
        }
    }
}

/// Refuses adding `body.userId` to course `id` as `role` when that would pass a limit.
fn limit_refusal(w: &mut World, id: &str, role: &str, body: &Value) -> Option<Response> {
    let email = body["userId"].as_str()?.to_ascii_lowercase();
    let course = w.courses.get(id)?;
    if course.teachers.contains_key(&email) || course.students.contains_key(&email) {
        return None; // already a member: 409, as without limits
    }
    let refuse = |code: &str, what: &str| {
        Some(google_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            &format!("@{code} {what}"),
        ))
    };
    if role == "teachers" && course.teachers.len() >= w.limits.teachers_per_class {
        return refuse(
            "CourseTeacherLimitReached",
            "The course teacher limit has been reached.",
        );
    }
    if course.teachers.len() + course.students.len() >= w.limits.members_per_class {
        return refuse(
            "CourseMemberLimitReached",
            "The course member limit has been reached.",
        );
    }
    if w.courses_joined(&email) >= w.limits.classes_per_user {
        return refuse(
            "UserGroupsMembershipLimitReached",
            "The user is in the maximum number of classes.",
        );
    }
    None
}

pub struct ClassroomState {
    pub token: String,
    pub world: Mutex<World>,
    pub quota_per_minute: Mutex<Option<u32>>,
    window: Mutex<(Instant, u32)>,
    pub faults: Faults,
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub throttled: AtomicU64,
    /// (method, path, query) of every request, for checks against the discovery document.
    pub log: Mutex<Vec<(String, String, String)>>,
}

impl ClassroomState {
    /// Requests received so far, counted by API method (`classroom.courses.get`, ...).
    pub fn calls_by_method(&self) -> std::collections::BTreeMap<String, u64> {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::classroom_api::count_by_method(log.iter().map(|(m, p, _)| (m.as_str(), p.as_str())))
    }

    /// Forgets the requests received so far, to count one run's alone.
    pub fn clear_log(&self) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

pub struct StandInClassroom {
    pub addr: SocketAddr,
    pub state: Arc<ClassroomState>,
}

fn google_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": message, "status": code}})),
    )
        .into_response()
}

/// Google ids are opaque numbers; derive one per email so a person keeps it.
pub fn user_id(email: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in email.to_ascii_lowercase().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("1{:017}", h % 100_000_000_000_000_000)
}

impl StandInClassroom {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn writes(&self) -> u64 {
        self.state.writes.load(Ordering::SeqCst)
    }

    pub fn set_quota(&self, per_minute: Option<u32>) {
        if let Ok(mut q) = self.state.quota_per_minute.lock() {
            *q = per_minute;
        }
    }

    pub fn world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = self
            .state
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let answer = f(&mut w);
        // The closure may have changed any course, alias or member.
        w.derived = Derived::default();
        answer
    }

    /// A teacher posts graded work in the course with this alias; every student gets a
    /// submission. Returns the courseWork id.
    pub fn post_work(
        &self,
        alias: &str,
        title: &str,
        max_points: Option<f64>,
        topic_name: Option<&str>,
    ) -> Option<String> {
        self.world(|w| {
            let course_id = w.courses.values().find(|c| c.aliases.iter().any(|a| a == alias))?.id.clone();
            w.next_id += 1;
            let cw_id = format!("{}", 900_000 + w.next_id);
            let course = w.courses.get_mut(&course_id)?;
            let topic_id = topic_name.and_then(|n| course.topics.iter().find(|t| t["name"] == n)).map(|t| t["topicId"].clone());
            let mut work = json!({"courseId": course_id, "id": cw_id, "title": title, "state": "PUBLISHED",
                "workType": "ASSIGNMENT", "creationTime": "2026-09-02T08:00:00Z", "updateTime": "2026-09-02T08:00:00Z",
                "dueDate": {"year": 2026, "month": 9, "day": 20}, "dueTime": {"hours": 23, "minutes": 59}});
            if let Some(mp) = max_points {
                work["maxPoints"] = json!(mp);
            }
            if let Some(t) = topic_id {
                work["topicId"] = t;
            }
            course.course_work.push(work);
            let students: Vec<Value> = course.students.values().cloned().collect();
            for (i, s) in students.iter().enumerate() {
                course.submissions.push(json!({"courseId": course_id, "courseWorkId": cw_id,
                    "id": format!("sub-{cw_id}-{i}"), "userId": s["userId"], "state": "CREATED",
                    "late": false, "creationTime": "2026-09-02T08:00:00Z", "updateTime": "2026-09-02T08:00:00Z"}));
            }
            w.feed.publish("courses.courseWork", "CREATED", json!({"courseId": course_id, "id": cw_id}));
            Some(cw_id)
        })
    }

    /// A teacher grades one student's submission (by email).
    pub fn grade(
        &self,
        course_work_id: &str,
        email: &str,
        assigned: Option<f64>,
        draft: Option<f64>,
        late: bool,
        state: &str,
    ) -> bool {
        let uid = user_id(email);
        self.world(|w| {
            let World { courses, feed, .. } = w;
            for c in courses.values_mut() {
                for s in &mut c.submissions {
                    if s["courseWorkId"] == course_work_id && s["userId"] == uid {
                        s["state"] = json!(state);
                        s["late"] = json!(late);
                        if let Some(a) = assigned {
                            s["assignedGrade"] = json!(a);
                        }
                        if let Some(d) = draft {
                            s["draftGrade"] = json!(d);
                        }
                        s["updateTime"] = json!("2026-09-21T08:00:00Z");
                        feed.publish(
                            "courses.courseWork.studentSubmissions",
                            "MODIFIED",
                            json!({"courseId": c.id, "courseWorkId": course_work_id, "id": s["id"]}),
                        );
                        return true;
                    }
                }
            }
            false
        })
    }

    /// The whole world in a form two runs can be compared by: courses by alias (ids are the
    /// server's and differ), each with its fields, owner, members, topic names, work titles.
    pub fn canonical_world(&self) -> Value {
        self.world(|w| {
            let mut courses = serde_json::Map::new();
            for c in w.courses.values() {
                let key = c
                    .aliases
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("unaliased:{}", c.id));
                let mut body = c.body.clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("enrollmentCode");
                    o.remove("id");
                }
                let mut topics: Vec<&str> =
                    c.topics.iter().filter_map(|t| t["name"].as_str()).collect();
                topics.sort_unstable();
                let mut work: Vec<&str> = c
                    .course_work
                    .iter()
                    .filter_map(|t| t["title"].as_str())
                    .collect();
                work.sort_unstable();
                courses.insert(
                    key,
                    json!({
                        "aliases": c.aliases,
                        "body": body,
                        "teachers": c.teachers.keys().collect::<Vec<_>>(),
                        "students": c.students.keys().collect::<Vec<_>>(),
                        "topics": topics,
                        "courseWork": work,
                    }),
                );
            }
            Value::Object(courses)
        })
    }

    pub fn course_by_alias(&self, alias: &str) -> Option<Course> {
        self.world(|w| {
            w.courses
                .values()
                .find(|c| c.aliases.iter().any(|a| a == alias))
                .cloned()
        })
    }

    /// The student ids of the course with this alias (none if there is no such course).
    /// What a teacher or admin does by hand in Classroom's own UI: no API call is counted.
    /// Membership changes publish their notifications; course fields have no feed.
    pub fn by_hand(&self, alias: &str, change: impl FnOnce(&mut Course)) {
        self.world(|w| {
            let World { courses, feed, .. } = w;
            if let Some(c) = courses
                .values_mut()
                .find(|c| c.aliases.iter().any(|a| a == alias))
            {
                let before = (c.teachers.clone(), c.students.clone());
                change(c);
                for (collection, was, now) in [
                    ("courses.teachers", &before.0, &c.teachers),
                    ("courses.students", &before.1, &c.students),
                ] {
                    for (_, m) in now.iter().filter(|(e, _)| !was.contains_key(*e)) {
                        feed.publish(
                            collection,
                            "CREATED",
                            json!({"courseId": c.id, "userId": m["userId"]}),
                        );
                    }
                    for (_, m) in was.iter().filter(|(e, _)| !now.contains_key(*e)) {
                        feed.publish(
                            collection,
                            "DELETED",
                            json!({"courseId": c.id, "userId": m["userId"]}),
                        );
                    }
                }
            }
        });
    }

    /// Registrations, notifications and the Pub/Sub subscription.
    pub fn feed<R>(&self, f: impl FnOnce(&mut ChangeFeed) -> R) -> R {
        self.world(|w| f(&mut w.feed))
    }

    /// A member entry as Classroom lists it, for adding someone by hand.
    pub fn member(course_id: &str, email: &str) -> Value {
        member(course_id, email)
    }

    pub fn student_ids(&self, alias: &str) -> Vec<String> {
        self.course_by_alias(alias)
            .map(|c| c.students.keys().cloned().collect())
            .unwrap_or_default()
    }
}

pub async fn start(token: &str) -> std::io::Result<StandInClassroom> {
    let state = Arc::new(ClassroomState {
        token: token.to_string(),
        world: Mutex::new(World::default()),
        quota_per_minute: Mutex::new(None),
        window: Mutex::new((Instant::now(), 0)),
        faults: Faults::default(),
        requests: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .fallback(handle_with_faults)
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(StandInClassroom { addr, state })
}

fn over_quota(state: &ClassroomState) -> Option<u64> {
    let quota = (*state.quota_per_minute.lock().ok()?)?;
    let mut w = state.window.lock().ok()?;
    let now = Instant::now();
    if now.duration_since(w.0) >= Duration::from_secs(60) {
        *w = (now, 0);
    }
    if w.1 >= quota {
        let left = Duration::from_secs(60).saturating_sub(now.duration_since(w.0));
        return Some(left.as_secs().max(1));
    }
    w.1 += 1;
    None
}

fn page(items: Vec<Value>, key: &str, q: &BTreeMap<String, String>) -> Response {
    let size: usize = q
        .get("pageSize")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(100)
        .min(1000);
    let start: usize = q
        .get("pageToken")
        .and_then(|v| v.strip_prefix("p"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(items.len());
    let mut body = json!({});
    let chunk: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    // Google leaves empty lists out of the answer.
    if !chunk.is_empty() {
        body[key] = Value::Array(chunk);
    }
    if end < items.len() {
        body["nextPageToken"] = json!(format!("p{end}"));
    }
    axum::Json(body).into_response()
}

fn course_json(c: &Course) -> Value {
    let mut b = c.body.clone();
    b["id"] = json!(c.id);
    b
}

/// Answers a request, then applies any after-the-write fault: the write stands, the answer
/// lies or never comes.
async fn handle_with_faults(
    State(state): State<Arc<ClassroomState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = handle(
        State(Arc::clone(&state)),
        method.clone(),
        uri,
        headers,
        body,
    )
    .await;
    match state
        .faults
        .after_write(&method, response.status().is_success())
    {
        crate::faults::AfterWrite::Answer => response,
        crate::faults::AfterWrite::Fail503 => google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        ),
        crate::faults::AfterWrite::Hang => {
            // Never answer: the client gives up on its timeout, not knowing the write stood.
            std::future::pending::<()>().await;
            response
        }
        crate::faults::AfterWrite::OmitId => axum::Json(serde_json::json!({})).into_response(),
    }
}

async fn handle(
    State(state): State<Arc<ClassroomState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut log) = state.log.lock() {
        log.push((
            method.to_string(),
            uri.path().to_string(),
            uri.query().unwrap_or_default().to_string(),
        ));
    }
    let slow = state.faults.slow_ms.load(Ordering::SeqCst);
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.token);
    if !authorized {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if Faults::take(&state.faults.server_errors) {
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        );
    }
    let storm = Faults::take(&state.faults.rate_limited);
    let hostile = Faults::take(&state.faults.hostile_retry_after);
    if let Some(wait) = over_quota(&state)
        .or(storm.then_some(1))
        .or(hostile.then_some(u64::MAX))
    {
        state.throttled.fetch_add(1, Ordering::SeqCst);
        let mut r = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Requests' per minute.",
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // A repeated parameter (`states=TURNED_IN&states=RETURNED`) is kept whole, its values
    // joined by commas, as Google's API takes repeated fields.
    let mut q: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        q.entry(k.to_string())
            .and_modify(|all| {
                all.push(',');
                all.push_str(&v);
            })
            .or_insert(v);
    }
    let segs: Vec<String> = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received.",
                );
            }
        }
    };
    let mut w = state
        .world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let writes = &state.writes;
    match (&method, segs.as_slice()) {
        (&Method::GET, ["v1", "courses"]) => {
            let list: Vec<Value> = w.courses.values().map(course_json).collect();
            page(list, "courses", &q)
        }
        (&Method::POST, ["v1", "courses"]) => {
            if body["name"].as_str().is_none_or(str::is_empty) {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "name is required",
                );
            }
            let Some(owner) = body["ownerId"].as_str().filter(|n| !n.is_empty()) else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "ownerId is required",
                );
            };
            let alias = body["id"].as_str().map(str::to_string);
            if let Some(a) = &alias {
                if !(a.starts_with("d:") || a.starts_with("p:")) {
                    return google_error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        "alias must start with d: or p:",
                    );
                }
                if w.resolve(a).is_some() {
                    return google_error(
                        StatusCode::CONFLICT,
                        "ALREADY_EXISTS",
                        "Requested entity already exists",
                    );
                }
            }
            writes.fetch_add(1, Ordering::SeqCst);
            w.next_id += 1;
            let id = format!("{}", 100_000 + w.next_id);
            let mut b = body.clone();
            if let Some(o) = b.as_object_mut() {
                o.remove("id");
                o.insert("ownerId".into(), json!(user_id(owner)));
                o.entry("courseState").or_insert(json!("PROVISIONED"));
                o.insert("enrollmentCode".into(), json!(format!("ec{id}")));
            }
            let mut course = Course {
                id: id.clone(),
                body: b,
                aliases: alias.into_iter().collect(),
                ..Course::default()
            };
            // The owner is a teacher of the course from the start.
            course
                .teachers
                .insert(owner.to_ascii_lowercase(), member(&id, owner));
            let out = course_json(&course);
            if let Some(by_alias) = &mut w.derived.by_alias {
                by_alias.extend(course.aliases.iter().map(|a| (a.clone(), id.clone())));
            }
            w.count_membership(&owner.to_ascii_lowercase());
            w.courses.insert(id, course);
            axum::Json(out).into_response()
        }
        (&Method::POST, ["v1", "invitations"]) => create_invitation(&mut w, &body, writes),
        (
            m,
            [
                "v1",
                "userProfiles",
                student,
                "guardianInvitations",
                rest @ ..,
            ],
        ) => guardian_route(&mut w, m, student, rest, &body, &q, writes),
        (&Method::GET, ["v1", "invitations"]) => {
            let (course, user) = (q.get("courseId"), q.get("userId"));
            if course.is_none() && user.is_none() {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "At least one of courseId or userId must be given.",
                );
            }
            let list = w
                .invitations
                .values()
                .filter(|i| course.is_none_or(|c| i["courseId"] == c.as_str()))
                .filter(|i| {
                    user.is_none_or(|u| {
                        i["userId"].as_str().map(str::to_ascii_lowercase)
                            == Some(u.to_ascii_lowercase())
                    })
                })
                .cloned()
                .collect();
            page(list, "invitations", &q)
        }
        (&Method::GET | &Method::DELETE, ["v1", "invitations", id]) => {
            let found = if method == Method::DELETE {
                w.invitations.remove(*id)
            } else {
                w.invitations.get(*id).cloned()
            };
            match found {
                Some(invitation) if method == Method::GET => axum::Json(invitation).into_response(),
                Some(_) => {
                    writes.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({})).into_response()
                }
                None => google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                ),
            }
        }
        (&Method::POST, ["v1", "registrations"]) => {
            let World { courses, feed, .. } = &mut *w;
            match feed.register(&body, |id| courses.contains_key(id)) {
                Ok(r) => axum::Json(r).into_response(),
                Err(e) => feed_error(&e),
            }
        }
        (&Method::DELETE, ["v1", "registrations", id]) => {
            if w.feed.unregister(id) {
                axum::Json(json!({})).into_response()
            } else {
                google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                )
            }
        }
        (&Method::POST, ["v1", "projects", project, "subscriptions", action]) => {
            let (name, verb) = action.rsplit_once(':').unwrap_or((action, ""));
            if format!("projects/{project}/subscriptions/{name}") != change_feed::SUBSCRIPTION {
                return google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Resource not found (resource=subscription).",
                );
            }
            let answer = match verb {
                "pull" => w.feed.pull(&body),
                "acknowledge" => w.feed.acknowledge(&body),
                _ => Err(FeedError::NotFound(format!("no method {verb}"))),
            };
            match answer {
                Ok(v) => axum::Json(v).into_response(),
                Err(e) => feed_error(&e),
            }
        }
        (m, ["v1", "courses", key, rest @ ..]) => {
            let Some(id) = w.resolve(key) else {
                return google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                );
            };
            if let (&Method::POST, ["teachers" | "students"]) = (m, rest)
                && let Some(who) = body["userId"].as_str()
                && !w.in_domain(who)
            {
                return google_error(
                    StatusCode::FORBIDDEN,
                    "PERMISSION_DENIED",
                    "@CannotDirectAddUser The user cannot be added to the course directly.",
                );
            }
            if let (&Method::POST, [role @ ("teachers" | "students")]) = (m, rest)
                && let Some(refusal) = limit_refusal(&mut w, &id, role, &body)
            {
                return refusal;
            }
            if let (&Method::DELETE, []) = (m, rest) {
                writes.fetch_add(1, Ordering::SeqCst);
                w.courses.remove(&id);
                w.derived = Derived::default();
                return axum::Json(json!({})).into_response();
            }
            let Some(course) = w.courses.get_mut(&id) else {
                return google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Requested entity was not found.",
                );
            };
            let answer = course_route(m, rest, course, &body, &q, writes);
            // Roster changes made through the API are notified as Classroom does.
            if let (&Method::POST | &Method::DELETE, [role @ ("teachers" | "students"), ..]) =
                (m, rest)
                && answer.status().is_success()
            {
                let user = match rest {
                    [_, who] => json!(who),
                    _ => body["userId"].clone(),
                };
                let event = if m == Method::POST {
                    if let Some(email) = user.as_str() {
                        w.count_membership(&email.to_ascii_lowercase());
                    }
                    "CREATED"
                } else {
                    // Removed by email or by id: counted again when next needed.
                    w.derived.memberships = None;
                    "DELETED"
                };
                w.feed.publish(
                    &format!("courses.{role}"),
                    event,
                    json!({"courseId": id, "userId": user}),
                );
            }
            answer
        }
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found."),
    }
}

fn feed_error(e: &FeedError) -> Response {
    match e {
        FeedError::Invalid(m) => google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", m),
        FeedError::NotFound(m) => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", m),
        FeedError::PermissionDenied(m) => {
            google_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", m)
        }
    }
}

fn member(course_id: &str, email: &str) -> Value {
    let uid = user_id(email);
    json!({"courseId": course_id, "userId": uid, "profile": {"id": uid, "emailAddress": email.to_ascii_lowercase(),
        "name": {"fullName": email.split('@').next().unwrap_or_default()}}})
}

fn course_route(
    m: &Method,
    rest: &[&str],
    course: &mut Course,
    body: &Value,
    q: &BTreeMap<String, String>,
    writes: &AtomicU64,
) -> Response {
    let conflict = || {
        google_error(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "Requested entity already exists",
        )
    };
    let missing = || {
        google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Requested entity was not found.",
        )
    };
    match (m, rest) {
        (&Method::GET, []) => axum::Json(course_json(course)).into_response(),
        (&Method::PATCH, []) => {
            let Some(mask) = q.get("updateMask") else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "updateMask is required",
                );
            };
            writes.fetch_add(1, Ordering::SeqCst);
            for field in mask.split(',') {
                let field = field.trim();
                if ![
                    "name",
                    "section",
                    "descriptionHeading",
                    "description",
                    "room",
                    "courseState",
                    "ownerId",
                ]
                .contains(&field)
                {
                    return google_error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        &format!("field {field} cannot be updated"),
                    );
                }
                course.body[field] = body[field].clone();
            }
            axum::Json(course_json(course)).into_response()
        }
        (&Method::GET, ["aliases"]) => {
            let list = course.aliases.iter().map(|a| json!({"alias": a})).collect();
            page(list, "aliases", q)
        }
        (&Method::GET, [role @ ("teachers" | "students")]) => {
            let map = if *role == "teachers" {
                &course.teachers
            } else {
                &course.students
            };
            page(map.values().cloned().collect(), role, q)
        }
        (&Method::POST, [role @ ("teachers" | "students")]) => {
            let Some(who) = body["userId"].as_str() else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "userId is required",
                );
            };
            let email = who.to_ascii_lowercase();
            let exists =
                course.teachers.contains_key(&email) || course.students.contains_key(&email);
            if exists {
                return conflict();
            }
            writes.fetch_add(1, Ordering::SeqCst);
            let m = member(&course.id, &email);
            if *role == "teachers" {
                course.teachers.insert(email.clone(), m.clone());
            } else {
                course.students.insert(email.clone(), m.clone());
            }
            axum::Json(m).into_response()
        }
        (&Method::DELETE, [role @ ("teachers" | "students"), who]) => {
            let key = who.to_ascii_lowercase();
            let map = if *role == "teachers" {
                &mut course.teachers
            } else {
                &mut course.students
            };
            let found = map
                .keys()
                .find(|e| **e == key || user_id(e) == *who)
                .cloned();
            match found {
                Some(e) => {
                    writes.fetch_add(1, Ordering::SeqCst);
                    map.remove(&e);
                    axum::Json(json!({})).into_response()
                }
                None => missing(),
            }
        }
        (&Method::GET, ["topics"]) => page(course.topics.clone(), "topic", q),
        (&Method::POST, ["topics"]) => {
            let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "name is required",
                );
            };
            if course.topics.iter().any(|t| t["name"] == name) {
                return conflict();
            }
            writes.fetch_add(1, Ordering::SeqCst);
            let t = json!({"courseId": course.id, "topicId": format!("{}{:03}", course.id, course.topics.len() + 1), "name": name, "updateTime": "2026-09-01T00:00:00Z"});
            course.topics.push(t.clone());
            axum::Json(t).into_response()
        }
        (&Method::PATCH, ["topics", topic]) => {
            let Some(name) = body["name"].as_str() else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "name is required",
                );
            };
            if course
                .topics
                .iter()
                .any(|t| t["name"] == name && t["topicId"] != *topic)
            {
                return conflict();
            }
            match course.topics.iter_mut().find(|t| t["topicId"] == *topic) {
                Some(t) => {
                    writes.fetch_add(1, Ordering::SeqCst);
                    t["name"] = json!(name);
                    axum::Json(t.clone()).into_response()
                }
                None => missing(),
            }
        }
        (&Method::DELETE, ["topics", topic]) => {
            let before = course.topics.len();
            course.topics.retain(|t| t["topicId"] != *topic);
            if course.topics.len() == before {
                return missing();
            }
            writes.fetch_add(1, Ordering::SeqCst);
            // Work filed under it stays, with no topic.
            for w in &mut course.course_work {
                if w["topicId"] == *topic {
                    w.as_object_mut().map(|o| o.remove("topicId"));
                }
            }
            axum::Json(json!({})).into_response()
        }
        (&Method::GET, ["courseWork"]) => {
            // Unspecified, only PUBLISHED work is listed (the API's default).
            let states = q
                .get("courseWorkStates")
                .map_or("PUBLISHED", String::as_str);
            let work: Vec<Value> = course
                .course_work
                .iter()
                .filter(|w| {
                    let state = w["state"].as_str().unwrap_or("PUBLISHED");
                    states.split(',').any(|s| s == state)
                })
                .cloned()
                .collect();
            page(work, "courseWork", q)
        }
        (&Method::GET, ["courseWork", cw, "studentSubmissions"]) => {
            // userId: an id or an email address; states: any of them.
            let user = q.get("userId").map(|u| {
                if u.contains('@') {
                    user_id(u)
                } else {
                    u.clone()
                }
            });
            let subs: Vec<Value> = course
                .submissions
                .iter()
                .filter(|s| *cw == "-" || s["courseWorkId"] == *cw)
                .filter(|s| user.as_ref().is_none_or(|u| s["userId"] == u.as_str()))
                .filter(|s| {
                    q.get("states").is_none_or(|states| {
                        states.split(',').any(|st| s["state"].as_str() == Some(st))
                    })
                })
                .cloned()
                .collect();
            page(subs, "studentSubmissions", q)
        }
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found."),
    }
}
