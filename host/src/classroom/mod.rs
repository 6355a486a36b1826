//! Google Classroom API v1 client: complete paged reads of the courses we manage, and the
//! writes the engine plans. Courses are addressed by alias (`d:...`), which the API accepts in
//! place of an id, so a re-run finds what an earlier run created.

pub mod auth;
pub mod change_feed;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use classbridge_engine::input::{ClassroomListings, ListPage};
use reqwest::{Client, Method, StatusCode, Url};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::config::ClassroomSettings;
use crate::http::{self, AuthProblem, ErrorAnswer, HttpError, RetryPolicy, Throttle};
use auth::ClassroomAuth;

const SERVICE: &str = "Classroom";

pub struct ClassroomClient {
    base: String,
    auth: ClassroomAuth,
    http: Client,
    throttle: Arc<Throttle>,
    policy: RetryPolicy,
    page_size: u32,
    max_pages: u64,
}

/// One course as Classroom answered for it: the `courses.get` answer and its lists.
pub struct CourseRead {
    id: String,
    course: ListPage,
    lists: BTreeMap<&'static str, Vec<ListPage>>,
}

impl CourseRead {
    /// Classroom's id of the course.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds the course and its lists to `listings`.
    pub fn add_to(mut self, listings: &mut ClassroomListings, with_grades: bool) {
        let mut take = |name| self.lists.remove(name).unwrap_or_default();
        listings.teachers.extend(take("teachers"));
        listings.students.extend(take("students"));
        listings.topics.extend(take("topics"));
        if with_grades {
            listings.course_work.extend(take("courseWork"));
            listings
                .student_submissions
                .extend(take("courseWork/-/studentSubmissions"));
            listings.course_work_complete.insert(self.id.clone());
        }
        listings.course_gets.push(self.course);
        listings.members_complete.insert(self.id);
    }
}

/// Google's error codes, in words an admin can act on.
fn explain(code: &str) -> Option<&'static str> {
    Some(match code {
        "CourseMemberLimitReached" => "the course is full (Classroom's member limit)",
        "CourseTeacherLimitReached" => "the course has as many teachers as Classroom allows",
        "UserGroupsMembershipLimitReached" => {
            "the person is in as many classes and groups as Classroom allows"
        }
        "InactiveCourseOwner" => {
            "the course owner's account is suspended or deleted; set a new owner"
        }
        "IneligibleOwner" => {
            "the owner is not allowed to own courses (not a verified teacher, or outside the domain)"
        }
        "PendingInvitationExists" => "an invitation is already waiting for this person",
        "CannotDirectAddUser" => {
            "the person is outside the domain (or has no account), so Classroom will not add them directly (CannotDirectAddUser); the next run invites them instead (list the district's domains in rules.classroom.domains to invite at once)"
        }
        "UserInvitationQuotaExhausted" => {
            "Classroom's quota of invitations is used up for now (UserInvitationQuotaExhausted); the invitation is retried on the next run"
        }
        "UserInIllegalDomain" => "the person is in a domain this course cannot take",
        "CourseNotModifiable" => "the course is in a state that does not allow this change",
        _ => return None,
    })
}

/// `guardianInvitations.create`'s documented refusals, in words: 403 PERMISSION_DENIED
/// (guardians off for the domain, a guardian who declined too many invitations for this
/// student, or an account that may not manage guardians) and 429 RESOURCE_EXHAUSTED (the
/// student's or guardian's link limit, or a spent quota). Both are retried on the next run.
fn guardian_refusal(status: StatusCode, source: HttpError) -> WriteError {
    let advice = match status {
        StatusCode::FORBIDDEN => {
            "Classroom refused the guardian invitation (PERMISSION_DENIED): guardians are not enabled for this domain, this guardian has declined too many invitations for this student, or the account may not manage guardians; it is tried again on the next run"
        }
        StatusCode::TOO_MANY_REQUESTS => {
            "Classroom refused the guardian invitation (RESOURCE_EXHAUSTED): the student or the guardian has reached Classroom's guardian link limit, or the quota is spent for now; it is tried again on the next run"
        }
        _ => return source.into(),
    };
    WriteError::Explained { advice, source }
}

/// A failed write, with a message an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Google refused with an error code we can explain.
    #[error("{advice}")]
    Explained {
        advice: &'static str,
        #[source]
        source: HttpError,
    },
    /// The request failed.
    #[error(transparent)]
    Request(HttpError),
    /// A 2xx without the id a create must return: recording success with an empty remote id
    /// would address the object by nothing from then on.
    #[error(
        "Classroom: {call} answered success without '{field}'; the write is treated as failed and checked again next run"
    )]
    MissingId { call: String, field: &'static str },
    /// An invitation to a course Classroom does not have (deleted by hand since).
    #[error("Classroom has no course {alias} to invite to; the invitation is tried again next run")]
    NoCourse { alias: String },
}

/// The id a successful create must carry.
fn required_id(answer: &Value, field: &'static str, call: &str) -> Result<String, WriteError> {
    match answer[field].as_str() {
        Some(id) if !id.trim().is_empty() => Ok(id.to_string()),
        _ => Err(WriteError::MissingId {
            call: call.to_string(),
            field,
        }),
    }
}

impl From<HttpError> for WriteError {
    fn from(source: HttpError) -> Self {
        match source.code().and_then(explain) {
            Some(advice) => WriteError::Explained { advice, source },
            None => WriteError::Request(source),
        }
    }
}

fn seg(s: &str) -> String {
    crate::oneroster::oauth1::encode(s)
}

impl ClassroomClient {
    pub fn new(settings: &ClassroomSettings, http: Client) -> Result<ClassroomClient, HttpError> {
        let auth = match (&settings.bearer_token, &settings.service_account_key) {
            (Some(token), _) => {
                ClassroomAuth::Fixed(token.resolve().map_err(|e| HttpError::Auth {
                    service: SERVICE,
                    problem: e.into(),
                })?)
            }
            (None, Some(key)) => {
                let key = key.resolve().map_err(|e| HttpError::Auth {
                    service: SERVICE,
                    problem: e.into(),
                })?;
                ClassroomAuth::service_account(
                    &key,
                    settings.impersonate.clone().unwrap_or_default(),
                    settings.token_url.clone(),
                    if settings.change_feed.is_some() {
                        auth::SCOPES_WITH_CHANGE_FEED
                    } else {
                        auth::SCOPES
                    },
                )?
            }
            (None, None) => {
                return Err(HttpError::Auth {
                    service: SERVICE,
                    problem: AuthProblem::NoCredentials,
                });
            }
        };
        Ok(ClassroomClient {
            base: settings.base_url.trim_end_matches('/').to_string(),
            auth,
            http,
            throttle: Throttle::new(settings.quota_per_minute, settings.max_concurrency),
            policy: RetryPolicy {
                max_retries: settings.max_retries,
                max_retry_after: std::time::Duration::from_secs(settings.max_retry_after_secs),
                max_response_bytes: settings.max_response_mb.saturating_mul(1 << 20),
                max_response_setting: "classroom.max_response_mb",
                ..RetryPolicy::default()
            },
            page_size: 100,
            max_pages: settings.max_pages_per_listing,
        })
    }

    /// Counts every request this client sends into `sent` (the console's progress).
    pub fn counting_requests(mut self, sent: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.throttle = self.throttle.counting_into(sent);
        self
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), HttpError> {
        self.call_as(&self.policy, method, path, query, body).await
    }

    async fn call_as(
        &self,
        policy: &RetryPolicy,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), HttpError> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| HttpError::local(SERVICE, method.clone(), path, "not a valid URL", e))?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        for attempt in 0..2 {
            let token = self.auth.token(&self.http).await?;
            let build = || {
                let mut req = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose());
                if let Some(b) = body {
                    req = req.json(b);
                }
                Ok(req)
            };
            let (status, headers, bytes) =
                http::send(SERVICE, &self.throttle, policy, method.clone(), path, build).await?;
            if status == StatusCode::UNAUTHORIZED {
                if attempt == 0 {
                    self.auth.invalidate().await;
                    continue;
                }
                return Err(HttpError::Auth {
                    service: SERVICE,
                    problem: AuthProblem::Refused {
                        who: String::new(),
                        status,
                        path: path.to_string(),
                        answer: ErrorAnswer::from_body(&bytes),
                        hint: "",
                    },
                });
            }
            if status.is_success() {
                let value =
                    http::expect_json(SERVICE, method.clone(), path, (status, headers, bytes))?;
                return Ok((status, value));
            }
            // Hand 4xx answers back to the caller, which knows which ones mean "already done".
            return Ok((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
        }
        Err(HttpError::Auth {
            service: SERVICE,
            problem: AuthProblem::RefusedTwice { who: String::new() },
        })
    }

    fn fail(method: Method, path: &str, status: StatusCode, body: &Value) -> HttpError {
        HttpError::Status {
            service: SERVICE,
            method,
            path: path.to_string(),
            status,
            answer: ErrorAnswer::from_value(body),
            retries: 0,
            waited_secs: 0,
        }
    }

    /// Every page of a list call, as the API sent them.
    pub async fn list(
        &self,
        path: &str,
        extra: &[(&str, String)],
    ) -> Result<Vec<Value>, HttpError> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        let mut seen_tokens = BTreeSet::new();
        loop {
            let mut query: Vec<(&str, String)> = extra.to_vec();
            query.push(("pageSize", self.page_size.to_string()));
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let (status, page) = self.call(Method::GET, path, &query, None).await?;
            if !status.is_success() {
                return Err(Self::fail(Method::GET, path, status, &page));
            }
            if pages.len() as u64 >= self.max_pages {
                return Err(HttpError::BrokenListing {
                    service: SERVICE,
                    method: Method::GET,
                    path: path.to_string(),
                    problem: format!(
                        "more than {} pages: the listing looks endless (classroom.max_pages_per_listing raises the limit)",
                        self.max_pages
                    ),
                });
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            pages.push(page);
            match &token {
                Some(t) if !seen_tokens.insert(t.clone()) => {
                    return Err(HttpError::BrokenListing {
                        service: SERVICE,
                        method: Method::GET,
                        path: path.to_string(),
                        problem: "the same pageToken came back twice".into(),
                    });
                }
                Some(_) => {}
                None => return Ok(pages),
            }
        }
    }

    /// Like `list`, keeping each page as JSON text for the engine.
    async fn list_pages(&self, path: &str) -> Result<Vec<ListPage>, HttpError> {
        Self::keep(path, self.list(path, &[]).await?)
    }

    fn keep(path: &str, pages: Vec<Value>) -> Result<Vec<ListPage>, HttpError> {
        pages
            .iter()
            .map(|p| {
                ListPage::from_value(p).map_err(|e| {
                    HttpError::local(SERVICE, Method::GET, path, "the page could not be kept", e)
                })
            })
            .collect()
    }

    /// Reaches Classroom and lists one page of courses.
    pub async fn check(&self) -> Result<(), HttpError> {
        let (status, page) = self
            .call(
                Method::GET,
                "/v1/courses",
                &[("pageSize", "1".into())],
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(Self::fail(Method::GET, "/v1/courses", status, &page));
        }
        Ok(())
    }

    /// `courses.get` by id or alias: `None` when Classroom has no such course (404) or the
    /// course was declined (never ours to manage).
    async fn get_course(&self, key: &str) -> Result<Option<Value>, HttpError> {
        let path = Self::course_path(key);
        let (status, course) = self.call(Method::GET, &path, &[], None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Self::fail(Method::GET, &path, status, &course));
        }
        if course.get("courseState").and_then(Value::as_str) == Some("DECLINED") {
            return Ok(None);
        }
        Ok(Some(course))
    }

    /// One course and its lists: members, topics and, for grade export, courseWork and every
    /// submission. `None` when the course is not there.
    async fn read_course(
        &self,
        key: &str,
        with_grades: bool,
    ) -> Result<Option<CourseRead>, HttpError> {
        let Some(course) = self.get_course(key).await? else {
            return Ok(None);
        };
        let path = Self::course_path(key);
        let id = required_id(&course, "id", &format!("GET {path}")).map_err(|_| {
            HttpError::BrokenListing {
                service: SERVICE,
                method: Method::GET,
                path: path.clone(),
                problem: "the course came without its id".into(),
            }
        })?;
        let c = seg(&id);
        let mut lists: BTreeMap<&'static str, Vec<ListPage>> = BTreeMap::new();
        let mut names = vec!["teachers", "students", "topics"];
        if with_grades {
            names.extend(["courseWork", "courseWork/-/studentSubmissions"]);
        }
        for name in names {
            let pages = self.list_pages(&format!("/v1/courses/{c}/{name}")).await?;
            lists.insert(name, pages);
        }
        Ok(Some(CourseRead {
            course: Self::keep(&path, vec![course])?.remove(0),
            id,
            lists,
        }))
    }

    /// Reads each course named by `keys` (ids or aliases) concurrently (the throttle bounds
    /// it); the answer is in `keys` order, so it does not depend on arrival order.
    async fn read_courses(
        self: &Arc<Self>,
        keys: Vec<String>,
        with_grades: bool,
        on_progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<(String, Option<CourseRead>)>, HttpError> {
        let total = keys.len();
        let mut tasks = JoinSet::new();
        for (i, key) in keys.into_iter().enumerate() {
            let me = Arc::clone(self);
            tasks.spawn(async move {
                let read = me.read_course(&key, with_grades).await;
                (i, key, read)
            });
        }
        let mut out = Vec::with_capacity(total);
        while let Some(joined) = tasks.join_next().await {
            let (i, key, read) = joined.map_err(|e| {
                HttpError::local(
                    SERVICE,
                    Method::GET,
                    "/v1/courses/-",
                    "the reading task failed",
                    e,
                )
            })?;
            out.push((i, key, read?));
            on_progress(out.len(), total);
        }
        out.sort_by_key(|(i, _, _)| *i);
        Ok(out.into_iter().map(|(_, key, read)| (key, read)).collect())
    }

    /// Everything the engine needs about the courses the state knows, read by their ids: no
    /// course list and no alias listing, so a run costs six requests per managed course (the
    /// engine ties each to its class by the alias the state holds). A course that is gone
    /// (404) is simply not in the listings.
    pub async fn fetch_listings(
        self: &Arc<Self>,
        known_ids: Vec<String>,
        with_grades: bool,
        on_progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ClassroomListings, HttpError> {
        let mut listings = ClassroomListings::default();
        for (_, read) in self
            .read_courses(known_ids, with_grades, on_progress)
            .await?
        {
            if let Some(read) = read {
                read.add_to(&mut listings, with_grades);
            }
        }
        Ok(listings)
    }

    /// Looks each alias up (`courses.get` accepts `d:<id>` in place of an id) and reads whole
    /// the courses that exist: those the plan would create but Classroom has (after a
    /// reconnect with a new state, or a crash between a creation and its record).
    pub async fn find_by_alias(
        self: &Arc<Self>,
        aliases: Vec<String>,
        with_grades: bool,
        on_progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<(String, CourseRead)>, HttpError> {
        Ok(self
            .read_courses(aliases, with_grades, on_progress)
            .await?
            .into_iter()
            .filter_map(|(alias, read)| Some((alias, read?)))
            .collect())
    }

    fn course_path(alias: &str) -> String {
        format!("/v1/courses/{}", seg(alias))
    }

    /// Creates a course with its alias as the id; 409 means a run before us made it.
    pub async fn create_course(&self, alias: &str, course: &Value) -> Result<String, WriteError> {
        let mut body = course.clone();
        body["id"] = json!(alias);
        let (status, answer) = self
            .call(Method::POST, "/v1/courses", &[], Some(&body))
            .await?;
        if status.is_success() {
            return required_id(&answer, "id", "POST /v1/courses");
        }
        if status == StatusCode::CONFLICT {
            return self.course_id(alias).await;
        }
        Err(Self::fail(Method::POST, "/v1/courses", status, &answer).into())
    }

    /// The course id behind an alias.
    pub async fn course_id(&self, alias: &str) -> Result<String, WriteError> {
        let path = Self::course_path(alias);
        let (status, answer) = self.call(Method::GET, &path, &[], None).await?;
        if status.is_success() {
            return required_id(&answer, "id", &format!("GET {path}"));
        }
        Err(Self::fail(Method::GET, &path, status, &answer).into())
    }

    pub async fn patch_course(
        &self,
        alias: &str,
        mask: &[String],
        course: &Value,
    ) -> Result<(), WriteError> {
        let path = Self::course_path(alias);
        let (status, answer) = self
            .call(
                Method::PATCH,
                &path,
                &[("updateMask", mask.join(","))],
                Some(course),
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        Err(Self::fail(Method::PATCH, &path, status, &answer).into())
    }

    /// Adds a teacher or student; already a member (409) counts as done.
    pub async fn add_member(
        &self,
        alias: &str,
        role: &str,
        user_id: &str,
    ) -> Result<(), WriteError> {
        let path = format!("{}/{role}", Self::course_path(alias));
        let (status, answer) = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(&json!({ "userId": user_id })),
            )
            .await?;
        if status.is_success() || status == StatusCode::CONFLICT {
            return Ok(());
        }
        Err(Self::fail(Method::POST, &path, status, &answer).into())
    }

    /// Invites a person outside the domain to a course as `role` (`STUDENT`, `TEACHER`) and
    /// answers the invitation's id. The invitation names the course by id, so the alias is
    /// looked up first; an invitation already there (409) is found and counts as done.
    pub async fn invite(
        &self,
        alias: &str,
        user_id: &str,
        role: &str,
    ) -> Result<String, WriteError> {
        let course_path = Self::course_path(alias);
        let Some(course) = self.get_course(alias).await? else {
            return Err(WriteError::NoCourse {
                alias: alias.to_string(),
            });
        };
        let course_id = required_id(&course, "id", &format!("GET {course_path}"))?;
        let path = "/v1/invitations";
        let body = json!({ "courseId": course_id, "userId": user_id, "role": role });
        let (status, answer) = self.call(Method::POST, path, &[], Some(&body)).await?;
        if status.is_success() {
            return required_id(&answer, "id", &format!("POST {path}"));
        }
        if status == StatusCode::CONFLICT {
            let pages = self
                .list(
                    path,
                    &[
                        ("courseId", course_id.clone()),
                        ("userId", user_id.to_string()),
                    ],
                )
                .await?;
            let found = pages
                .iter()
                .filter_map(|p| p.get("invitations").and_then(Value::as_array))
                .flatten()
                .find_map(|i| i["id"].as_str());
            if let Some(id) = found {
                return Ok(id.to_string());
            }
        }
        Err(Self::fail(Method::POST, path, status, &answer).into())
    }

    /// Withdraws an invitation; already gone (404: accepted, declined or withdrawn) counts as
    /// done.
    pub async fn delete_invitation(&self, id: &str) -> Result<(), WriteError> {
        let path = format!("/v1/invitations/{}", seg(id));
        let (status, answer) = self.call(Method::DELETE, &path, &[], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(Self::fail(Method::DELETE, &path, status, &answer).into())
    }

    /// Asks `email` to confirm they are `student`'s guardian and answers the invitation's id.
    /// A pending invitation to them already there (409) is looked up and counts as done; so
    /// does 409 for someone who is the student's guardian already (no invitation to keep).
    pub async fn invite_guardian(
        &self,
        student: &str,
        email: &str,
    ) -> Result<Option<String>, WriteError> {
        let path = format!("/v1/userProfiles/{}/guardianInvitations", seg(student));
        let body = json!({ "studentId": student, "invitedEmailAddress": email });
        // Classroom answers the guardian link limit with 429 RESOURCE_EXHAUSTED, the status its
        // quota uses too: a couple of tries, never fifteen minutes of waiting out a limit that
        // lasts; then a failure in words, tried again on the next run.
        let policy = RetryPolicy {
            throttled_retries: Some(2),
            ..self.policy.clone()
        };
        let (status, answer) = match self
            .call_as(&policy, Method::POST, &path, &[], Some(&body))
            .await
        {
            Ok(answer) => answer,
            Err(source @ HttpError::Status { status, .. }) => {
                return Err(guardian_refusal(status, source));
            }
            Err(e) => return Err(e.into()),
        };
        if status.is_success() {
            return required_id(&answer, "invitationId", &format!("POST {path}")).map(Some);
        }
        if status == StatusCode::CONFLICT {
            let pages = self
                .list(
                    &path,
                    &[
                        ("invitedEmailAddress", email.to_string()),
                        ("states", "PENDING".to_string()),
                    ],
                )
                .await?;
            let found = pages
                .iter()
                .filter_map(|p| p.get("guardianInvitations").and_then(Value::as_array))
                .flatten()
                .find_map(|i| i["invitationId"].as_str());
            return Ok(found.map(str::to_string));
        }
        Err(guardian_refusal(
            status,
            Self::fail(Method::POST, &path, status, &answer),
        ))
    }

    /// Withdraws a pending guardian invitation (sets it `COMPLETE`); one no longer pending
    /// (400 FAILED_PRECONDITION: accepted, declined or expired) or gone (404) counts as done.
    pub async fn withdraw_guardian_invitation(
        &self,
        student: &str,
        invitation_id: &str,
    ) -> Result<(), WriteError> {
        let path = format!(
            "/v1/userProfiles/{}/guardianInvitations/{}",
            seg(student),
            seg(invitation_id)
        );
        let (status, answer) = self
            .call(
                Method::PATCH,
                &path,
                &[("updateMask", "state".into())],
                Some(&json!({ "state": "COMPLETE" })),
            )
            .await?;
        let not_pending = status == StatusCode::BAD_REQUEST
            && answer["error"]["status"].as_str() == Some("FAILED_PRECONDITION");
        if status.is_success() || status == StatusCode::NOT_FOUND || not_pending {
            return Ok(());
        }
        Err(Self::fail(Method::PATCH, &path, status, &answer).into())
    }

    /// Removes a member; already gone (404) counts as done.
    pub async fn remove_member(
        &self,
        alias: &str,
        role: &str,
        user_id: &str,
    ) -> Result<(), WriteError> {
        let path = format!("{}/{role}/{}", Self::course_path(alias), seg(user_id));
        let (status, answer) = self.call(Method::DELETE, &path, &[], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(Self::fail(Method::DELETE, &path, status, &answer).into())
    }

    /// Creates a topic; a topic of that name already there (409) is looked up and reused.
    pub async fn create_topic(&self, alias: &str, name: &str) -> Result<String, WriteError> {
        let path = format!("{}/topics", Self::course_path(alias));
        let (status, answer) = self
            .call(Method::POST, &path, &[], Some(&json!({ "name": name })))
            .await?;
        if status.is_success() {
            return required_id(&answer, "topicId", &format!("POST {path}"));
        }
        if status == StatusCode::CONFLICT {
            let pages = self.list(&path, &[]).await?;
            let found = pages
                .iter()
                .filter_map(|p| p.get("topic").and_then(Value::as_array))
                .flatten()
                .find(|t| t["name"].as_str() == Some(name))
                .and_then(|t| t["topicId"].as_str());
            if let Some(id) = found {
                return Ok(id.to_string());
            }
        }
        Err(Self::fail(Method::POST, &path, status, &answer).into())
    }

    /// Deletes a course (an undo takes back one its run made); already gone (404) counts as
    /// done.
    pub async fn delete_course(&self, alias: &str) -> Result<(), WriteError> {
        let path = Self::course_path(alias);
        let (status, answer) = self.call(Method::DELETE, &path, &[], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(Self::fail(Method::DELETE, &path, status, &answer).into())
    }

    /// Deletes a topic; already deleted (FAILED_PRECONDITION) or gone (404) counts as done.
    pub async fn delete_topic(&self, alias: &str, topic_id: &str) -> Result<(), WriteError> {
        let path = format!("{}/topics/{}", Self::course_path(alias), seg(topic_id));
        let (status, answer) = self.call(Method::DELETE, &path, &[], None).await?;
        let already = status == StatusCode::BAD_REQUEST
            && answer["error"]["status"].as_str() == Some("FAILED_PRECONDITION");
        if status.is_success() || status == StatusCode::NOT_FOUND || already {
            return Ok(());
        }
        Err(Self::fail(Method::DELETE, &path, status, &answer).into())
    }

    /// A course's courseWork in every state a teacher may have left it (drafts count: they
    /// are a teacher's work too), as `(id, topicId)`.
    pub async fn course_work_of(
        &self,
        alias: &str,
    ) -> Result<Vec<(String, Option<String>)>, HttpError> {
        let path = format!("{}/courseWork", Self::course_path(alias));
        let states = ["PUBLISHED", "DRAFT"]
            .into_iter()
            .map(|s| ("courseWorkStates", s.to_string()))
            .collect::<Vec<_>>();
        let pages = self.list(&path, &states).await?;
        Ok(pages
            .iter()
            .filter_map(|p| p.get("courseWork").and_then(Value::as_array))
            .flatten()
            .filter_map(|w| {
                let id = w["id"].as_str()?.to_string();
                Some((id, w["topicId"].as_str().map(str::to_string)))
            })
            .collect())
    }

    /// How many submissions `user` has turned in (or had returned) in a course.
    pub async fn turned_in_by(&self, alias: &str, user: &str) -> Result<u64, HttpError> {
        let path = format!(
            "{}/courseWork/-/studentSubmissions",
            Self::course_path(alias)
        );
        let query = [
            ("userId", user.to_string()),
            ("states", "TURNED_IN".to_string()),
            ("states", "RETURNED".to_string()),
        ];
        let pages = self.list(&path, &query).await?;
        Ok(pages
            .iter()
            .filter_map(|p| p.get("studentSubmissions").and_then(Value::as_array))
            .map(|s| s.len() as u64)
            .sum())
    }

    pub async fn patch_topic(
        &self,
        alias: &str,
        topic_id: &str,
        name: &str,
    ) -> Result<(), WriteError> {
        let path = format!("{}/topics/{}", Self::course_path(alias), seg(topic_id));
        let (status, answer) = self
            .call(
                Method::PATCH,
                &path,
                &[("updateMask", "name".into())],
                Some(&json!({ "name": name })),
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        Err(Self::fail(Method::PATCH, &path, status, &answer).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> HttpError {
        HttpError::Status {
            service: SERVICE,
            method: Method::POST,
            path: "/v1/courses/d%3Ac1/students".into(),
            status: StatusCode::BAD_REQUEST,
            answer: ErrorAnswer::from_body(body.as_bytes()),
            retries: 0,
            waited_secs: 0,
        }
    }

    #[test]
    fn a_known_google_error_code_is_explained_with_the_error_as_its_cause() {
        let e = WriteError::from(refused(
            r#"{"error":{"message":"@CourseMemberLimitReached The course is full.","status":"FAILED_PRECONDITION"}}"#,
        ));
        assert!(
            matches!(e, WriteError::Explained { advice, .. } if advice.contains("the course is full"))
        );
        let WriteError::Explained { source, .. } = &e else {
            unreachable!()
        };
        assert_eq!(source.status(), Some(StatusCode::BAD_REQUEST));
        let text = crate::error::chain(&e);
        assert!(
            text.starts_with("the course is full (Classroom's member limit): Classroom: POST"),
            "{text}"
        );
        assert!(text.contains("FAILED_PRECONDITION"), "{text}");
    }

    #[test]
    fn an_unknown_or_merely_mentioned_code_is_passed_through() {
        let e = WriteError::from(refused(
            r#"{"error":{"message":"mentions CourseMemberLimitReached in passing","status":"INVALID_ARGUMENT"}}"#,
        ));
        assert!(matches!(e, WriteError::Request(_)), "{e:?}");
        assert!(e.to_string().contains("INVALID_ARGUMENT"));
    }
}
