//! Classroom's push notifications: registrations for its feeds (`registrations.create`, renewed
//! by an identical create before they expire) and the Cloud Pub/Sub pull subscription they
//! deliver to (`subscriptions.pull` and `acknowledge`, REST v1). The host only learns from
//! them which courses changed; what changed is always read from Classroom itself.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ClassroomClient, SERVICE};
use crate::http::HttpError;

/// A feed classbridge keeps a registration for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feed {
    /// Teachers and students joining or leaving any course of the domain.
    DomainRoster,
    /// courseWork and studentSubmissions created or changed in one course.
    CourseWork(String),
}

impl Feed {
    /// The key it is stored under.
    pub fn key(&self) -> String {
        match self {
            Feed::DomainRoster => "domainRoster".into(),
            Feed::CourseWork(id) => format!("courseWork:{id}"),
        }
    }

    fn body(&self, topic: &str) -> Value {
        let feed = match self {
            Feed::DomainRoster => json!({"feedType": "DOMAIN_ROSTER_CHANGES"}),
            Feed::CourseWork(id) => {
                json!({"feedType": "COURSE_WORK_CHANGES", "courseWorkChangesInfo": {"courseId": id}})
            }
        };
        json!({"feed": feed, "cloudPubsubTopic": {"topicName": topic}})
    }
}

/// A registration as Classroom answered it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub registration_id: String,
    pub expiry_time: String,
}

/// One batch pulled from the subscription.
pub struct Pulled {
    /// The courses the notifications name.
    pub courses: BTreeSet<String>,
    /// To acknowledge once the courses are recorded.
    pub ack_ids: Vec<String>,
    /// Messages that could not be read (they are acknowledged too: a reconciliation
    /// catches what they would have said).
    pub unreadable: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullAnswer {
    #[serde(default)]
    received_messages: Vec<Received>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Received {
    ack_id: String,
    #[serde(default)]
    message: PubsubMessage,
}

#[derive(Deserialize, Default)]
struct PubsubMessage {
    #[serde(default)]
    data: String,
}

/// The course a Classroom notification's data names (`resourceId.courseId`).
fn course_of(data_base64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data_base64)
        .ok()?;
    let data: Value = serde_json::from_slice(&bytes).ok()?;
    data["resourceId"]["courseId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ClassroomClient {
    /// `registrations.create` for `feed`, delivering to `topic`; an identical create renews.
    pub async fn register(&self, feed: &Feed, topic: &str) -> Result<Registered, HttpError> {
        let path = "/v1/registrations";
        let (status, answer) = self
            .call(Method::POST, path, &[], Some(&feed.body(topic)))
            .await?;
        if !status.is_success() {
            return Err(Self::fail(Method::POST, path, status, &answer));
        }
        serde_json::from_value(answer).map_err(|e| {
            HttpError::local(
                SERVICE,
                Method::POST,
                path,
                "the registration came without its id or expiry",
                e,
            )
        })
    }

    /// A client for Cloud Pub/Sub with the same credentials (as the service account itself).
    pub fn pubsub(&self, base_url: &str) -> Arc<ClassroomClient> {
        Arc::new(ClassroomClient {
            base: base_url.trim_end_matches('/').to_string(),
            auth: self.auth.for_pubsub(),
            http: self.http.clone(),
            throttle: crate::http::Throttle::new(600, 2),
            policy: self.policy.clone(),
            page_size: self.page_size,
            max_pages: self.max_pages,
        })
    }

    /// One `subscriptions.pull` of up to `max` messages.
    pub async fn pull(&self, subscription: &str, max: u32) -> Result<Pulled, HttpError> {
        let path = format!("/v1/{subscription}:pull");
        let (status, answer) = self
            .call(Method::POST, &path, &[], Some(&json!({"maxMessages": max})))
            .await?;
        if !status.is_success() {
            return Err(Self::fail(Method::POST, &path, status, &answer));
        }
        let answer: PullAnswer = serde_json::from_value(answer).map_err(|e| {
            HttpError::local(
                SERVICE,
                Method::POST,
                &path,
                "the pull answer is not a list of messages",
                e,
            )
        })?;
        let mut pulled = Pulled {
            courses: BTreeSet::new(),
            ack_ids: Vec::new(),
            unreadable: 0,
        };
        for m in answer.received_messages {
            match course_of(&m.message.data) {
                Some(course) => {
                    pulled.courses.insert(course);
                }
                None => pulled.unreadable += 1,
            }
            pulled.ack_ids.push(m.ack_id);
        }
        Ok(pulled)
    }

    /// `subscriptions.acknowledge`: the messages are not delivered again.
    pub async fn acknowledge(
        &self,
        subscription: &str,
        ack_ids: &[String],
    ) -> Result<(), HttpError> {
        if ack_ids.is_empty() {
            return Ok(());
        }
        let path = format!("/v1/{subscription}:acknowledge");
        let (status, answer) = self
            .call(Method::POST, &path, &[], Some(&json!({"ackIds": ack_ids})))
            .await?;
        if !status.is_success() {
            return Err(Self::fail(Method::POST, &path, status, &answer));
        }
        Ok(())
    }
}
