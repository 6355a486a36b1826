//! The stand-in Classroom's push notifications: `registrations.create`/`delete` as Google's
//! discovery document describes them, and a stand-in Cloud Pub/Sub pull subscription
//! (`projects.subscriptions.pull` and `acknowledge`, REST v1) on the same server. Every change
//! made through the API or by hand publishes Classroom's notification to each live
//! registration whose feed covers it; a registration stops publishing when it expires, as
//! Google's do after a week unless renewed by an identical create.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};

/// The topic and subscription that exist in the stand-in's Cloud project.
pub const TOPIC: &str = "projects/district-sync/topics/classroom";
pub const SUBSCRIPTION: &str = "projects/district-sync/subscriptions/classbridge";

#[derive(Clone, Debug)]
pub struct Registration {
    pub id: String,
    pub feed_type: String,
    pub course_id: Option<String>,
    pub topic: String,
    pub expires: Instant,
    pub expiry_time: String,
}

#[derive(Clone, Debug)]
struct Message {
    id: u64,
    data: Value,
    registration_id: String,
    /// Leased to a puller until then; redelivered after it, unless acknowledged.
    leased_until: Option<Instant>,
}

/// Registrations and the subscription's undelivered messages.
pub struct ChangeFeed {
    pub registrations: BTreeMap<String, Registration>,
    /// Registration id by (feed type, course): a district has a registration per course,
    /// and scanning them all for each notification and registration was quadratic.
    by_feed: HashMap<(String, Option<String>), String>,
    messages: Vec<Message>,
    next_id: u64,
    /// How long a registration lives (Google: a week).
    pub lifetime: Duration,
    /// When set, changes publish nothing: notifications Google lost or never sent.
    pub drop_notifications: bool,
    /// How long a pulled message stays leased before it is delivered again.
    pub ack_deadline: Duration,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed {
            registrations: BTreeMap::new(),
            by_feed: HashMap::new(),
            messages: Vec::new(),
            next_id: 0,
            lifetime: Duration::from_secs(7 * 24 * 3600),
            drop_notifications: false,
            ack_deadline: Duration::from_secs(60),
        }
    }
}

pub enum FeedError {
    Invalid(String),
    NotFound(String),
    PermissionDenied(String),
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

impl ChangeFeed {
    /// `registrations.create`: the body is a Registration with `feed` and `cloudPubsubTopic`.
    /// An identical request extends the registration it matches.
    pub fn register(
        &mut self,
        body: &Value,
        course_exists: impl Fn(&str) -> bool,
    ) -> Result<Value, FeedError> {
        let feed_type = body["feed"]["feedType"].as_str().unwrap_or_default();
        let course_id = match feed_type {
            "DOMAIN_ROSTER_CHANGES" => None,
            "COURSE_ROSTER_CHANGES" | "COURSE_WORK_CHANGES" => {
                let info = if feed_type == "COURSE_ROSTER_CHANGES" {
                    "courseRosterChangesInfo"
                } else {
                    "courseWorkChangesInfo"
                };
                let Some(id) = body["feed"][info]["courseId"].as_str() else {
                    return Err(FeedError::Invalid(format!(
                        "feed.{info}.courseId is required for {feed_type}"
                    )));
                };
                if !course_exists(id) {
                    return Err(FeedError::NotFound(format!("course {id} was not found")));
                }
                Some(id.to_string())
            }
            other => {
                return Err(FeedError::Invalid(format!(
                    "feed.feedType {other:?} is not a feed type"
                )));
            }
        };
        let Some(topic) = body["cloudPubsubTopic"]["topicName"].as_str() else {
            return Err(FeedError::Invalid(
                "cloudPubsubTopic.topicName is required".into(),
            ));
        };
        if topic != TOPIC {
            return Err(FeedError::PermissionDenied(format!(
                "classroom-notifications@system.gserviceaccount.com may not publish to {topic}"
            )));
        }
        let expires = Instant::now() + self.lifetime;
        let expiry_time = rfc3339(SystemTime::now() + self.lifetime);
        // Every registration's topic is TOPIC (checked above), so the feed names it.
        let feed_key = (feed_type.to_string(), course_id.clone());
        let existing = self
            .by_feed
            .get(&feed_key)
            .and_then(|id| self.registrations.get_mut(id));
        let registration = match existing {
            Some(r) => {
                r.expires = expires;
                r.expiry_time = expiry_time;
                r.clone()
            }
            None => {
                self.next_id += 1;
                let r = Registration {
                    id: format!("reg-{}", self.next_id),
                    feed_type: feed_type.to_string(),
                    course_id,
                    topic: topic.to_string(),
                    expires,
                    expiry_time,
                };
                self.registrations.insert(r.id.clone(), r.clone());
                self.by_feed.insert(feed_key, r.id.clone());
                r
            }
        };
        let mut feed = json!({"feedType": registration.feed_type});
        if let Some(id) = &registration.course_id {
            let info = if registration.feed_type == "COURSE_ROSTER_CHANGES" {
                "courseRosterChangesInfo"
            } else {
                "courseWorkChangesInfo"
            };
            feed[info] = json!({"courseId": id});
        }
        Ok(json!({
            "registrationId": registration.id,
            "feed": feed,
            "cloudPubsubTopic": {"topicName": registration.topic},
            "expiryTime": registration.expiry_time,
        }))
    }

    /// `registrations.delete`.
    pub fn unregister(&mut self, id: &str) -> bool {
        let Some(r) = self.registrations.remove(id) else {
            return false;
        };
        self.by_feed.remove(&(r.feed_type, r.course_id));
        true
    }

    /// Publishes Classroom's notification of a change to each live registration covering it:
    /// `collection` is `courses.students`, `courses.teachers`, `courses.courseWork` or
    /// `courses.courseWork.studentSubmissions`.
    pub fn publish(&mut self, collection: &str, event: &str, resource_id: Value) {
        if self.drop_notifications {
            return;
        }
        let now = Instant::now();
        let course_id = resource_id["courseId"].as_str().unwrap_or_default();
        let roster = collection == "courses.students" || collection == "courses.teachers";
        let feeds = if roster {
            vec![
                ("DOMAIN_ROSTER_CHANGES", None),
                ("COURSE_ROSTER_CHANGES", Some(course_id.to_string())),
            ]
        } else {
            vec![("COURSE_WORK_CHANGES", Some(course_id.to_string()))]
        };
        let mut covering: Vec<String> = feeds
            .into_iter()
            .filter_map(|(feed_type, course)| self.by_feed.get(&(feed_type.to_string(), course)))
            .filter(|id| self.registrations.get(*id).is_some_and(|r| r.expires > now))
            .cloned()
            .collect();
        // In the registrations' order, as a scan of them gave.
        covering.sort();
        for registration_id in covering {
            self.next_id += 1;
            self.messages.push(Message {
                id: self.next_id,
                data: json!({"collection": collection, "eventType": event, "resourceId": resource_id}),
                registration_id,
                leased_until: None,
            });
        }
    }

    /// Messages waiting in the subscription (pulled or not, until acknowledged).
    pub fn undelivered(&self) -> usize {
        self.messages.len()
    }

    /// `subscriptions.pull`: up to `maxMessages` messages not leased to another pull.
    pub fn pull(&mut self, body: &Value) -> Result<Value, FeedError> {
        let Some(max) = body["maxMessages"].as_u64().filter(|n| *n > 0) else {
            return Err(FeedError::Invalid(
                "maxMessages must be a positive number".into(),
            ));
        };
        let now = Instant::now();
        let mut received = Vec::new();
        for m in &mut self.messages {
            if received.len() as u64 >= max {
                break;
            }
            if m.leased_until.is_some_and(|t| t > now) {
                continue;
            }
            m.leased_until = Some(now + self.ack_deadline);
            let data = base64::engine::general_purpose::STANDARD.encode(m.data.to_string());
            received.push(json!({
                "ackId": format!("ack-{}", m.id),
                "message": {
                    "data": data,
                    "attributes": {"registrationId": m.registration_id},
                    "messageId": m.id.to_string(),
                    "publishTime": rfc3339(SystemTime::now()),
                },
            }));
        }
        // Pub/Sub answers `{}` when there is nothing to deliver.
        Ok(if received.is_empty() {
            json!({})
        } else {
            json!({"receivedMessages": received})
        })
    }

    /// `subscriptions.acknowledge`: the acknowledged messages are gone for good.
    pub fn acknowledge(&mut self, body: &Value) -> Result<Value, FeedError> {
        let Some(ids) = body["ackIds"].as_array().filter(|a| !a.is_empty()) else {
            return Err(FeedError::Invalid("ackIds must not be empty".into()));
        };
        let ids: HashSet<u64> = ids
            .iter()
            .filter_map(|id| id.as_str()?.strip_prefix("ack-")?.parse().ok())
            .collect();
        self.messages.retain(|m| !ids.contains(&m.id));
        Ok(json!({}))
    }
}
