//! Google Classroom API v1 client: complete paged reads of the courses we manage, and the
//! writes the engine plans. Courses are addressed by alias (`d:...`), which the API accepts in
//! place of an id, so a re-run finds what an earlier run created.

pub mod auth;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use classbridge_engine::COURSE_ALIAS_PREFIX;
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
        "UserInIllegalDomain" => "the person is in a domain this course cannot take",
        "CourseNotModifiable" => "the course is in a state that does not allow this change",
        _ => return None,
    })
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

    async fn call(
        &self,
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
            let (status, headers, bytes) = http::send(
                SERVICE,
                &self.throttle,
                &self.policy,
                method.clone(),
                path,
                build,
            )
            .await?;
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

    /// Everything the engine needs about the courses we manage (those with a `d:` alias):
    /// members, topics and, for grade export, courseWork and every submission.
    pub async fn fetch_listings(
        self: &Arc<Self>,
        with_grades: bool,
        on_progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ClassroomListings, HttpError> {
        let courses = self.list("/v1/courses", &[]).await?;
        let ids: Vec<String> = courses
            .iter()
            .filter_map(|p| p.get("courses").and_then(Value::as_array))
            .flatten()
            .filter(|c| c.get("courseState").and_then(Value::as_str) != Some("DECLINED"))
            .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        let mut listings = ClassroomListings {
            courses: Self::keep("/v1/courses", courses)?,
            ..ClassroomListings::default()
        };
        // Aliases of every course, to find ours.
        let mut tasks = JoinSet::new();
        for id in ids.clone() {
            let me = Arc::clone(self);
            tasks.spawn(async move {
                let pages = me
                    .list(&format!("/v1/courses/{}/aliases", seg(&id)), &[])
                    .await;
                (id, pages)
            });
        }
        let mut ours = Vec::new();
        let total = ids.len();
        let mut done = 0;
        while let Some(joined) = tasks.join_next().await {
            let (id, pages) = joined.map_err(|e| {
                HttpError::local(
                    SERVICE,
                    Method::GET,
                    "/v1/courses/-/aliases",
                    "the reading task failed",
                    e,
                )
            })?;
            let pages = pages?;
            let managed = pages
                .iter()
                .filter_map(|p| p.get("aliases").and_then(Value::as_array))
                .flatten()
                .any(|a| {
                    a.get("alias")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with(COURSE_ALIAS_PREFIX))
                });
            if managed {
                ours.push(id.clone());
            }
            listings
                .aliases
                .insert(id, Self::keep("/v1/courses/-/aliases", pages)?);
            done += 1;
            on_progress(done, total * 2);
        }
        // Members, topics and grades of ours, concurrently (the throttle bounds it).
        let mut tasks = JoinSet::new();
        for id in ours.clone() {
            let me = Arc::clone(self);
            tasks.spawn(async move {
                let c = seg(&id);
                let mut out: BTreeMap<&'static str, Vec<ListPage>> = BTreeMap::new();
                out.insert(
                    "teachers",
                    me.list_pages(&format!("/v1/courses/{c}/teachers")).await?,
                );
                out.insert(
                    "students",
                    me.list_pages(&format!("/v1/courses/{c}/students")).await?,
                );
                out.insert(
                    "topics",
                    me.list_pages(&format!("/v1/courses/{c}/topics")).await?,
                );
                if with_grades {
                    out.insert(
                        "courseWork",
                        me.list_pages(&format!("/v1/courses/{c}/courseWork"))
                            .await?,
                    );
                    out.insert(
                        "studentSubmissions",
                        me.list_pages(&format!("/v1/courses/{c}/courseWork/-/studentSubmissions"))
                            .await?,
                    );
                }
                Ok::<_, HttpError>((id, out))
            });
        }
        let mut per_course = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (id, out) = joined.map_err(|e| {
                HttpError::local(
                    SERVICE,
                    Method::GET,
                    "/v1/courses/-",
                    "the reading task failed",
                    e,
                )
            })??;
            per_course.insert(id, out);
            done += 1;
            on_progress(done, total + ours.len());
        }
        // Course order, so the input (and so the plan) does not depend on arrival order.
        for (id, mut out) in per_course {
            listings.members_complete.insert(id.clone());
            listings
                .teachers
                .extend(out.remove("teachers").unwrap_or_default());
            listings
                .students
                .extend(out.remove("students").unwrap_or_default());
            listings
                .topics
                .extend(out.remove("topics").unwrap_or_default());
            if with_grades {
                listings
                    .course_work
                    .extend(out.remove("courseWork").unwrap_or_default());
                listings
                    .student_submissions
                    .extend(out.remove("studentSubmissions").unwrap_or_default());
                listings.course_work_complete.insert(id);
            }
        }
        Ok(listings)
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
