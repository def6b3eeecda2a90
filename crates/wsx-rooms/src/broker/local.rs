//! The in-process broker: one node, rooms in memory. Each room has an
//! epoch (random, drawn when the room is created, so a room forgotten and
//! made again never reuses its offsets), a counter of offsets and a history
//! capped in messages and in bytes. Publishing takes the offset, keeps the
//! message and hands it to the hub under one lock, so every member sees a
//! room's messages in offset order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::{BoxFuture, Broker, BrokerError, Joined, LinkState, Publication, Resume, resume_from};
use crate::envelope::MemberInfo;
use crate::hub::{Delivery, Hub, Relay, Seq};

/// Most payload bytes of history kept per room; older messages go first.
/// Bounds memory whatever the message sizes.
pub(crate) const HISTORY_BYTES: usize = 1 << 20;

/// Most rooms kept with history but no members; past it, empty rooms are
/// forgotten (bounds memory against clients that visit many room names).
const MAX_IDLE_ROOMS: usize = 1024;

struct RoomLog {
    epoch: u64,
    latest: u64,
    history: VecDeque<(u64, Relay)>,
    history_bytes: usize,
}

impl RoomLog {
    fn new() -> Self {
        Self { epoch: rand::random(), latest: 0, history: VecDeque::new(), history_bytes: 0 }
    }
}

/// Rooms of one process.
pub struct LocalBroker {
    hub: Hub,
    history: usize,
    rooms: Mutex<HashMap<String, RoomLog>>,
}

impl std::fmt::Debug for LocalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBroker").field("history", &self.history).finish_non_exhaustive()
    }
}

impl LocalBroker {
    /// A broker delivering to `hub`, keeping `history` messages per room
    /// (and at most 1 MiB of them).
    pub fn new(hub: Hub, history: usize) -> Self {
        Self { hub, history, rooms: Mutex::new(HashMap::new()) }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, RoomLog>> {
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish_now(&self, room: &str, publication: Publication) -> Option<Seq> {
        let mut rooms = self.rooms();
        let log = rooms.entry(room.to_owned()).or_insert_with(RoomLog::new);
        let seq = publication.kept.then(|| {
            log.latest += 1;
            Seq { epoch: log.epoch, offset: log.latest }
        });
        if let Some(seq) = seq
            && self.history > 0
        {
            log.history_bytes += publication.relay.len();
            log.history.push_back((seq.offset, publication.relay.clone()));
            while log.history.len() > self.history || log.history_bytes > HISTORY_BYTES {
                match log.history.pop_front() {
                    Some((_, old)) => log.history_bytes -= old.len(),
                    None => break,
                }
            }
        }
        // Under the rooms' lock: deliveries of a room follow its offsets.
        self.hub.deliver(room, &Delivery { seq, relay: publication.relay, except: publication.sender });
        seq
    }
}

impl Broker for LocalBroker {
    fn join<'a>(&'a self, room: &'a str, _member: &'a MemberInfo, resume: Option<Resume>) -> BoxFuture<'a, Joined> {
        let mut rooms = self.rooms();
        let log = rooms.entry(room.to_owned()).or_insert_with(RoomLog::new);
        let history: Vec<(u64, Relay)> = log.history.iter().cloned().collect();
        let (history, gap) = resume_from(log.epoch, log.latest, history, self.history, resume);
        let joined = Joined { members: None, epoch: log.epoch, latest: log.latest, history, gap };
        Box::pin(std::future::ready(joined))
    }

    fn leave<'a>(&'a self, room: &'a str, _member: &'a MemberInfo) -> BoxFuture<'a, ()> {
        let mut rooms = self.rooms();
        if !self.hub.is_occupied(room) {
            let idle = rooms.len().saturating_sub(self.hub.occupied().len());
            // Forgetting a room loses its history: it comes back with a new epoch.
            if rooms.get(room).is_some_and(|log| log.history.is_empty()) || idle > MAX_IDLE_ROOMS {
                rooms.remove(room);
            }
        }
        Box::pin(std::future::ready(()))
    }

    fn publish<'a>(
        &'a self,
        room: &'a str,
        publication: Publication,
    ) -> BoxFuture<'a, Result<Option<Seq>, BrokerError>> {
        Box::pin(std::future::ready(Ok(self.publish_now(room, publication))))
    }

    fn link_state(&self) -> LinkState {
        LinkState::Local
    }
}
