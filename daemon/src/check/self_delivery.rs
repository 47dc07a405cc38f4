//! Guarantee 7, self delivery (complete histories only): a sender that stays in a group and
//! does not crash gets its own message.

use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::SELF_DELIVERY;

/// Guarantee 7: a sender that stays in a group it multicast to as a member, and does not crash,
/// gets its own message. A sender that crashed owes nothing, and nobody else is owed its
/// messages: they may die with its daemon.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for ob in &walk.obligations {
        if ix.crashed(ob.proc) {
            continue;
        }
        let states = &walk.groups[ob.proc];
        let stayed = ob.groups.iter().find(|g| {
            states
                .get(g)
                .and_then(|st| st.last_leave)
                .is_none_or(|leave| leave < ob.pos)
        });
        if let Some(&g) = stayed {
            if !walk.delivered[ob.proc].contains(ob.msg) {
                report.add(SELF_DELIVERY, || {
                    format!(
                        "{} never delivers its own message {}, though it stayed in {}",
                        name(history, ob.proc),
                        ix.id(ob.msg),
                        ix.gname(g)
                    )
                });
            }
        }
    }
}
