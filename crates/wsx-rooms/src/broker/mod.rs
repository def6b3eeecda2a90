//! The broker seam: what carries a room's messages between its members,
//! gives each kept message its offset, and keeps the room's history.
//!
//! A broker is built with a [`Hub`] (this node's members) and hands it, in
//! offset order per room, every message local members must receive —
//! including those published on this node: the broker is the one place
//! that orders a room. The rooms call the broker; the broker calls the hub;
//! nothing points back. Two engines: [`LocalBroker`] (in-process, the
//! default) and [`RedisBroker`] (rooms shared by every node on one Redis).

pub(crate) mod local;
pub(crate) mod redis;

use std::future::Future;
use std::pin::Pin;

pub use local::LocalBroker;
pub use redis::RedisBroker;

use crate::envelope::MemberInfo;
use crate::hub::{Relay, Seq};

/// A boxed future, as the broker's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One message for a room.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The message.
    pub relay: Relay,
    /// The member of this node that sent it (it does not get it back).
    pub sender: Option<u64>,
    /// Kept: takes an offset and a place in the history (presence is not).
    pub kept: bool,
}

/// What a joining member needs from the broker.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    /// Members of the room on every node (`None`: only this node's are known).
    pub members: Option<Vec<MemberInfo>>,
    /// The room's epoch now.
    pub epoch: u64,
    /// The room's latest offset (0: none yet in this epoch).
    pub latest: u64,
    /// Kept messages to send first, oldest first, with their offsets.
    pub history: Vec<(u64, Relay)>,
    /// Offsets the member asked for that history no longer holds.
    pub gap: Option<Gap>,
}

/// Offsets a resuming member missed and cannot get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// First offset missing (in the member's epoch).
    pub from: u64,
    /// Last offset missing; `None` when the epoch changed (all of the old
    /// epoch after `from` is gone).
    pub to: Option<u64>,
}

/// Where a resuming member left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The epoch it last saw.
    pub epoch: u64,
    /// The last offset it received.
    pub offset: u64,
}

/// Why a broker could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker's backing service is unreachable; nothing was published.
    Unavailable(String),
    /// A malformed setting (a bad Redis URL, …).
    Config(String),
}

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerError::Unavailable(why) => write!(f, "broker unavailable: {why}"),
            BrokerError::Config(why) => write!(f, "broker configuration: {why}"),
        }
    }
}

impl std::error::Error for BrokerError {}

/// State of a broker's link to its backing service, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// In-process: always up.
    Local,
    /// Connected.
    Up,
    /// Reconnecting.
    Down,
}

/// A broker engine. Deliveries to this node's members go to the [`Hub`]
/// it was built with, in offset order per room.
///
/// [`Hub`]: crate::Hub
pub trait Broker: Send + Sync + 'static {
    /// A local member is joining `room` (it is already in the hub, so it
    /// receives what is published from now on): register it, and return
    /// the members, the epoch and the history after `resume` (the last
    /// `history` kept messages without one).
    fn join<'a>(&'a self, room: &'a str, member: &'a MemberInfo, resume: Option<Resume>) -> BoxFuture<'a, Joined>;

    /// A local member left `room` (it is no longer in the hub).
    fn leave<'a>(&'a self, room: &'a str, member: &'a MemberInfo) -> BoxFuture<'a, ()>;

    /// Publishes to every member of the room on every node (but the
    /// sender). Returns once the message is ordered — with its offset when
    /// kept — or refused.
    fn publish<'a>(
        &'a self,
        room: &'a str,
        publication: Publication,
    ) -> BoxFuture<'a, Result<Option<Seq>, BrokerError>>;

    /// The link's state now.
    fn link_state(&self) -> LinkState;
}

/// The slice of `history` (offsets ascending) a member resuming after
/// `resume` must get, and the gap if history does not reach back to it.
pub(crate) fn resume_from(
    epoch: u64,
    latest: u64,
    history: Vec<(u64, Relay)>,
    keep: usize,
    resume: Option<Resume>,
) -> (Vec<(u64, Relay)>, Option<Gap>) {
    let Some(resume) = resume else {
        let skip = history.len().saturating_sub(keep);
        return (history.into_iter().skip(skip).collect(), None);
    };
    if resume.epoch != epoch {
        return (history, Some(Gap { from: resume.offset.saturating_add(1), to: None }));
    }
    if resume.offset >= latest {
        return (Vec::new(), None);
    }
    let oldest = history.first().map_or(latest + 1, |(offset, _)| *offset);
    let gap = (oldest > resume.offset + 1).then(|| Gap { from: resume.offset + 1, to: Some(oldest - 1) });
    (history.into_iter().filter(|(offset, _)| *offset > resume.offset).collect(), gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(offsets: std::ops::RangeInclusive<u64>) -> Vec<(u64, Relay)> {
        offsets.map(|o| (o, Relay::Text(o.to_string().into()))).collect()
    }

    fn offsets(slice: &[(u64, Relay)]) -> Vec<u64> {
        slice.iter().map(|(o, _)| *o).collect()
    }

    #[test]
    fn resuming_gets_exactly_what_was_missed_or_a_gap() {
        let (sent, gap) = resume_from(9, 10, history(5..=10), 3, None);
        assert_eq!((offsets(&sent), gap), (vec![8, 9, 10], None));
        let (sent, gap) = resume_from(9, 10, history(5..=10), 3, Some(Resume { epoch: 9, offset: 6 }));
        assert_eq!((offsets(&sent), gap), (vec![7, 8, 9, 10], None));
        let (sent, gap) = resume_from(9, 10, history(5..=10), 3, Some(Resume { epoch: 9, offset: 4 }));
        assert_eq!((offsets(&sent), gap), (vec![5, 6, 7, 8, 9, 10], None));
        let (sent, gap) = resume_from(9, 10, history(5..=10), 3, Some(Resume { epoch: 9, offset: 2 }));
        assert_eq!((offsets(&sent), gap), (vec![5, 6, 7, 8, 9, 10], Some(Gap { from: 3, to: Some(4) })));
        let (sent, gap) = resume_from(9, 10, history(5..=10), 3, Some(Resume { epoch: 9, offset: 10 }));
        assert_eq!((offsets(&sent), gap), (vec![], None));
        let (sent, gap) = resume_from(9, 10, Vec::new(), 3, Some(Resume { epoch: 9, offset: 7 }));
        assert_eq!((offsets(&sent), gap), (vec![], Some(Gap { from: 8, to: Some(10) })));
        let (sent, gap) = resume_from(9, 2, history(1..=2), 3, Some(Resume { epoch: 8, offset: 40 }));
        assert_eq!((offsets(&sent), gap), (vec![1, 2], Some(Gap { from: 41, to: None })));
    }
}
