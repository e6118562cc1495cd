"""`incentives audit`: check the invariants over all services' data and print a verdict.

Every check holds at any committed state (each is kept in the same transaction as the effects), so
the audit may run while traffic flows. It reads every schema as the database's administrator; the
statements live here, in the one tool that reads across services. It changes nothing, and it
does not say what a service subscribes to: that comes from each service's subscribers.TOPICS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from notify import subscribers as notify_subscribers
from points import subscribers as points_subscribers
from reports import subscribers as reports_subscribers
from rewards import subscribers as rewards_subscribers

from . import consumer_offsets

# What each service's consumer group (named after the service) reads: the table its consumer subscribes with.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "reports": reports_subscribers.TOPICS,
    "points": points_subscribers.TOPICS,
    "rewards": rewards_subscribers.TOPICS,
    "notify": notify_subscribers.TOPICS,
}
SERVICES = tuple(SUBSCRIPTIONS)


@dataclass
class Check:
    name: str
    violations: int
    detail: str = ""
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violations == 0


# (name, SQL returning one row per violation with a text column `example`, what it means)
POINTS_CHECKS: list[tuple[str, str, str]] = [
    (
        "balances equal the sums of their transfers",
        """SELECT b.member_id AS example FROM points.member_balances b
           LEFT JOIN (SELECT member_id,
                             sum(amount) FILTER (WHERE credit_account = 'member:' || member_id) AS credits,
                             sum(amount) FILTER (WHERE debit_account = 'member:' || member_id) AS debits
                      FROM points.transfers GROUP BY member_id) t USING (member_id)
           WHERE b.credits <> COALESCE(t.credits, 0) OR b.debits <> COALESCE(t.debits, 0)""",
        "member_balances drifted from the ledger",
    ),
    (
        "no member below zero except through a reversal",
        """SELECT b.member_id AS example FROM points.member_balances b
           LEFT JOIN (SELECT member_id, sum(amount) AS reversed FROM points.transfers WHERE kind = 'reversal'
                      GROUP BY member_id) r USING (member_id)
           WHERE b.credits - b.debits - b.held + COALESCE(r.reversed, 0) < 0""",
        "a balance went negative without a reversal",
    ),
    (
        "one credit per report, rating and attendance",
        """SELECT kind || ':' || ref AS example FROM points.transfers
           WHERE kind IN ('report', 'rating', 'need_rating', 'volunteer') GROUP BY kind, ref HAVING count(*) > 1""",
        "something earned twice",
    ),
    (
        "at most one effect per source event",
        """SELECT source || '#' || source_event_id AS example FROM points.transfers
           WHERE kind IN ('report', 'rating', 'need_rating', 'volunteer', 'reversal')
           GROUP BY source, source_event_id HAVING count(*) > 1""",
        "one event moved points twice",
    ),
    (
        "every reversal takes back exactly its credit",
        """SELECT r.transfer_id AS example FROM points.transfers r
           LEFT JOIN points.transfers o ON o.transfer_id = r.reverses
           WHERE r.kind = 'reversal' AND (o.transfer_id IS NULL OR o.amount <> r.amount
                 OR o.member_id <> r.member_id OR o.credit_account <> r.debit_account)""",
        "a reversal does not mirror its credit",
    ),
    (
        "daily cap kept (report points per member and day <= the cap, and counted right)",
        """SELECT d.member_id || ' ' || d.day AS example FROM points.daily_earnings d
           LEFT JOIN (SELECT member_id, (occurred_at AT TIME ZONE $1)::date AS day, sum(amount) AS earned
                      FROM points.transfers WHERE kind = ANY($3::text[]) GROUP BY 1, 2) t
             ON t.member_id = d.member_id AND t.day = d.day
           WHERE d.earned > $2 OR d.earned <> COALESCE(t.earned, 0)""",
        "the cap was exceeded or its counter drifted",
    ),
    (
        "earned-by-day totals agree with the ledger (star levels stand on them)",
        """SELECT COALESCE(e.member_id, t.member_id) AS example
           FROM (SELECT member_id, sum(earned) AS earned FROM points.earned_by_day GROUP BY member_id) e
           FULL JOIN (SELECT member_id, sum(CASE WHEN kind = 'reversal' THEN -amount ELSE amount END) AS earned
                      FROM points.transfers WHERE kind IN ('report', 'rating', 'need_rating', 'volunteer')
                         OR (kind = 'reversal' AND reverses IN (
                             SELECT transfer_id FROM points.transfers
                             WHERE kind IN ('report', 'rating', 'need_rating', 'volunteer')))
                      GROUP BY member_id) t USING (member_id)
           WHERE COALESCE(e.earned, 0) <> COALESCE(t.earned, 0)""",
        "a level or leaderboard would be computed from wrong totals",
    ),
    (
        "all-time leaderboard totals agree with earned-by-day",
        """SELECT COALESCE(p.member_id, e.member_id) AS example
           FROM (SELECT member_id, earned FROM points.period_totals WHERE period = 'all') p
           FULL JOIN (SELECT member_id, sum(earned) AS earned FROM points.earned_by_day GROUP BY member_id) e
             USING (member_id)
           WHERE COALESCE(p.earned, 0) <> COALESCE(e.earned, 0)""",
        "the leaderboard drifted",
    ),
    (
        "held points equal the pending holds",
        """SELECT b.member_id AS example FROM points.member_balances b
           LEFT JOIN (SELECT member_id, sum(amount) AS held FROM points.holds WHERE status = 'pending'
                      GROUP BY member_id) h USING (member_id)
           WHERE b.held <> COALESCE(h.held, 0)""",
        "a hold was counted twice or not at all",
    ),
    (
        "no expired hold still pending (a minute's grace for the sweep)",
        """SELECT hold_id AS example FROM points.holds
           WHERE status = 'pending' AND expires_at < now() - interval '1 minute'""",
        "holds are not being expired",
    ),
    (
        "every captured hold is exactly one debit of its amount",
        """SELECT h.hold_id AS example FROM points.holds h LEFT JOIN points.transfers t USING (transfer_id)
           WHERE h.status = 'captured' AND (t.transfer_id IS NULL OR t.amount <> h.amount
                 OR t.debit_account <> 'member:' || h.member_id)""",
        "a capture does not match its hold",
    ),
    (
        "every refunded hold is exactly one refund of its capture",
        """SELECT h.hold_id AS example FROM points.holds h
           LEFT JOIN points.transfers c ON c.transfer_id = h.transfer_id
           LEFT JOIN points.transfers r ON r.transfer_id = h.refund_transfer_id
           WHERE h.status = 'refunded' AND (c.transfer_id IS NULL OR r.transfer_id IS NULL OR r.kind <> 'refund'
                 OR r.amount <> c.amount OR r.reverses <> c.transfer_id OR r.debit_account <> c.credit_account
                 OR r.credit_account <> c.debit_account)
           UNION ALL
           SELECT ref FROM points.transfers WHERE kind = 'refund' GROUP BY ref HAVING count(*) > 1""",
        "points were refunded twice or not mirrored",
    ),
]

# Checks of work in flight (a saga's next step) take `$1` seconds of grace: they hold once things settle.
REWARDS_CHECKS: list[tuple[str, str, str]] = [
    (
        "stock: initial - confirmed + cancelled - reserved = available",
        """SELECT w.reward_id AS example FROM rewards.rewards w
           LEFT JOIN (SELECT reward_id, sum(delta) AS net FROM rewards.stock_changes
                      WHERE actor NOT LIKE 'redemption:%' GROUP BY reward_id) o USING (reward_id)
           LEFT JOIN (SELECT reward_id,
                             count(*) FILTER (WHERE status IN ('confirmed', 'fulfilled', 'cancelled', 'expired'))
                               AS confirmed,
                             count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                             count(*) FILTER (WHERE status = 'pending' AND stock_reserved) AS reserved
                      FROM rewards.redemptions WHERE kind = 'instant' GROUP BY reward_id) r USING (reward_id)
           WHERE w.stock_available <> COALESCE(o.net, 0) - COALESCE(r.confirmed, 0) + COALESCE(r.cancelled, 0)
                                      - COALESCE(r.reserved, 0)""",
        "a unit was sold twice, or lost",
    ),
    (
        "every stock change is recorded (the changes add up to what is available)",
        """SELECT w.reward_id AS example FROM rewards.rewards w
           LEFT JOIN (SELECT reward_id, sum(delta) AS total FROM rewards.stock_changes GROUP BY reward_id) c
             USING (reward_id)
           WHERE w.stock_available <> COALESCE(c.total, 0)""",
        "stock moved without a record",
    ),
    (
        "a unit is reserved exactly while a redemption holds it",
        """SELECT redemption_id AS example FROM rewards.redemptions
           WHERE stock_reserved <> (kind = 'instant' AND (status IN ('confirmed', 'fulfilled', 'expired')
                                     OR (status = 'pending' AND step IN ('hold_requested', 'capture_requested'))))""",
        "stock is held by a finished redemption, or a live one has none",
    ),
    (
        "no redemption left pending past its deadline",
        """SELECT redemption_id AS example FROM rewards.redemptions
           WHERE status = 'pending' AND (deadline IS NULL OR deadline < now() - make_interval(secs => $1))
             AND requested_at < now() - make_interval(secs => $1)""",
        "a saga is stuck",
    ),
    (
        "each hold matched: confirmed = captured, cancelled = refunded, rejected = nothing held",
        """SELECT r.redemption_id || ' ' || r.status || '/' || COALESCE(h.status, 'none') AS example
           FROM rewards.redemptions r LEFT JOIN points.holds h ON h.hold_id = r.hold_id
           WHERE r.updated_at < now() - make_interval(secs => $1)
             AND NOT (r.cost_points = 0 AND r.hold_id IS NULL)  -- an award: nothing was held
             AND CASE r.status WHEN 'confirmed' THEN h.status IS DISTINCT FROM 'captured'
                               WHEN 'fulfilled' THEN h.status IS DISTINCT FROM 'captured'
                               WHEN 'cancelled' THEN h.status IS DISTINCT FROM 'refunded'
                               WHEN 'rejected' THEN h.status IN ('pending', 'captured')
                               WHEN 'expired' THEN h.status NOT IN ('captured', 'refunded')
                               ELSE false END""",
        "points and rewards disagree about a redemption's points",
    ),
    (
        "rewards knows what points did with each of its holds",
        """SELECT r.hold_id || ' ' || r.status || '/' || COALESCE(h.status, 'none') AS example
           FROM rewards.holds r LEFT JOIN points.holds h USING (hold_id)
           WHERE r.updated_at < now() - make_interval(secs => $1)
             AND COALESCE(h.status, 'rejected') IS DISTINCT FROM r.status""",
        "a reply was lost or misapplied",
    ),
    (
        "every hold rewards asked for is wanted in the state it is in",
        """SELECT hold_id || ' wanted ' || wanted || ', is ' || status AS example FROM rewards.holds
           WHERE updated_at < now() - make_interval(secs => $1)
             AND NOT (wanted = status OR (wanted = 'released' AND status IN ('expired', 'rejected'))
                      OR (wanted = 'pending' AND status IN ('rejected', 'expired')))""",
        "a hold is left pending or a compensation did not happen",
    ),
    (
        "no points hold from rewards that rewards does not know",
        """SELECT h.hold_id AS example FROM points.holds h LEFT JOIN rewards.holds r USING (hold_id)
           WHERE h.source = '/incentives/rewards' AND r.hold_id IS NULL""",
        "points held a member's points for nobody",
    ),
    (
        "each allocation winner paid once and holds a voucher",
        """SELECT a.round_id || ' ' || a.member_id AS example FROM rewards.applications a
           LEFT JOIN rewards.redemptions r USING (redemption_id)
           WHERE a.status = 'won' AND (r.redemption_id IS NULL OR r.status NOT IN ('confirmed', 'fulfilled'))""",
        "a place was given without payment or a voucher",
    ),
    (
        "no reward's rounds promise more places than it has",
        """SELECT w.reward_id AS example FROM rewards.rewards w
           JOIN rewards.allocation_rounds r USING (reward_id)
           WHERE w.places IS NOT NULL GROUP BY w.reward_id, w.places HAVING sum(r.quota) > w.places""",
        "a round promised a place that does not exist",
    ),
]

KERNEL_CHECKS: list[tuple[str, str, str]] = [
    (
        "every parked event is still waiting (inbox says parked)",
        """SELECT p.source || '#' || p.event_id AS example FROM {s}.parked_events p
           LEFT JOIN {s}.inbox i USING (consumer, source, event_id)
           WHERE i.outcome IS DISTINCT FROM 'parked'""",
        "a parked event has another outcome",
    ),
    (
        "every event the inbox calls parked is kept",
        """SELECT i.source || '#' || i.event_id AS example FROM {s}.inbox i
           LEFT JOIN {s}.parked_events p USING (consumer, source, event_id)
           WHERE i.outcome = 'parked' AND p.event_id IS NULL""",
        "a parked event was lost",
    ),
    (
        "every committed outbox row is published (after the grace)",
        """SELECT id::text AS example FROM {s}.outbox
           WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)""",
        "the relay is behind or stuck",
    ),
    (
        "every event not applied says why (ignored or dead-lettered with a reason)",
        """SELECT source || '#' || event_id AS example FROM {s}.inbox
           WHERE outcome IN ('ignored', 'dead_lettered') AND COALESCE(reason, '') = ''""",
        "an event was dropped in silence",
    ),
]

# Reports and needs share the state machine (reports/lifecycle.py). A recorded step is legal when it
# moves forward, hands the case to another department (a transfer: the same or an earlier open status
# with another holder), reopens a resolved case, or goes on after a reopening; nothing follows a
# rejection, and a repeat (the same status, the same holder) is never recorded.
_CASE_STEPS = """
    WITH steps AS (
        SELECT 'report ' || report_id AS case_key, id, status, held_by FROM reports.report_status_history
        UNION ALL
        SELECT 'need ' || need_id, id, status, held_by FROM reports.need_status_history
    ),
    h AS (SELECT case_key, status, held_by,
                 lag(status) OVER (PARTITION BY case_key ORDER BY id) AS prev,
                 lag(held_by) OVER (PARTITION BY case_key ORDER BY id) AS held_before
          FROM steps),
    o(status, n) AS (VALUES ('submitted', 0), ('dispatched', 1), ('reopened', 1), ('accepted', 2),
                            ('resolved', 3), ('rejected', 4))
    SELECT h.case_key || ' ' || h.prev || '->' || h.status AS example
    FROM h JOIN o a ON a.status = h.status JOIN o b ON b.status = h.prev
    WHERE h.prev = 'rejected'
       OR (h.status = 'reopened' AND h.prev <> 'resolved')
       OR (h.prev = 'resolved' AND h.status NOT IN ('reopened', 'rejected')
           AND NOT (h.status = 'resolved' AND h.held_before IS NULL AND h.held_by IS NOT NULL))
       OR (h.status NOT IN ('rejected', 'reopened') AND a.n <= b.n
           AND h.held_by IS NOT DISTINCT FROM h.held_before
           AND NOT (h.prev = 'reopened' AND h.status = 'dispatched'))
    UNION ALL
    SELECT 'report ' || r.report_id || ' is ' || r.status FROM reports.reports r
    WHERE r.status IS DISTINCT FROM COALESCE(
        (SELECT x.status FROM reports.report_status_history x WHERE x.report_id = r.report_id
         ORDER BY x.id DESC LIMIT 1), 'submitted')
    UNION ALL
    SELECT 'need ' || n.need_id || ' is ' || n.status FROM reports.needs n
    WHERE n.status IS DISTINCT FROM COALESCE(
        (SELECT x.status FROM reports.need_status_history x WHERE x.need_id = n.need_id
         ORDER BY x.id DESC LIMIT 1), 'submitted')"""

REPORTS_CHECKS: list[tuple[str, str, str]] = [
    (
        "a report's or need's status moves only as the state machine allows (a stale status never rolls it back)",
        _CASE_STEPS,
        "a case went back, repeated a step, or its status is not its last recorded one",
    ),
    (
        "one history entry per status event",
        """SELECT event_source || '#' || event_id AS example FROM reports.report_status_history
           GROUP BY event_source, event_id, report_id HAVING count(*) > 1
           UNION ALL
           SELECT event_source || '#' || event_id FROM reports.need_status_history
           GROUP BY event_source, event_id, need_id HAVING count(*) > 1""",
        "a status event was applied twice",
    ),
    (
        "at most one rating point per report or need",
        """SELECT kind || ' ' || case_id AS example FROM reports.case_ratings
           WHERE earns_point GROUP BY kind, case_id HAVING count(*) > 1""",
        "a case earned the rating point twice",
    ),
]

NOTIFY_CHECKS: list[tuple[str, str, str]] = [
    (
        "one notification per cause, member and channel",
        """SELECT source_event || ' ' || member_id || ' ' || channel AS example FROM notify.notifications
           GROUP BY source_event, member_id, channel, kind HAVING count(*) > 1""",
        "a rider was told twice",
    ),
    (
        "a push is either deferred or sent, never both",
        """SELECT d.notification_id AS example FROM notify.deferred_pushes d
           JOIN notify.outbox o ON o.topic = 'incentives.notifications.v1' AND o.event_id = d.notification_id""",
        "a deferred push was also sent (it would be sent twice)",
    ),
    (
        "at most one accepted webhook delivery per notification and endpoint",
        """SELECT notification_id || ' ' || webhook_id AS example FROM notify.webhook_deliveries
           WHERE status = 'delivered' GROUP BY notification_id, webhook_id HAVING count(*) > 1
           UNION ALL
           SELECT delivery_id FROM notify.webhook_deliveries
           WHERE (status = 'delivered') <> (delivered_at IS NOT NULL)""",
        "an endpoint got a notification twice, or a delivery's record is inconsistent",
    ),
]

# Hold only once traffic has stopped and every consumer has caught up (`settled=True`).
SETTLED_CHECKS: list[tuple[str, str, str]] = [
    (
        "every service's member projection agrees (no stale event rolled one back)",
        """SELECT p.member_id || ' ' || o.service AS example FROM points.members p
           JOIN (SELECT 'reports' AS service, member_id, as_of, active FROM reports.members UNION ALL
                 SELECT 'rewards', member_id, as_of, active FROM rewards.members UNION ALL
                 SELECT 'notify', member_id, as_of, active FROM notify.members) o USING (member_id)
           WHERE o.as_of <> p.as_of OR o.active <> p.active""",
        "services disagree about a member after every one has read the same events",
    ),
    (
        "nothing parked once everything has arrived",
        """SELECT consumer || ' ' || source || '#' || event_id AS example FROM (
               SELECT consumer, source, event_id FROM reports.parked_events UNION ALL
               SELECT consumer, source, event_id FROM points.parked_events UNION ALL
               SELECT consumer, source, event_id FROM rewards.parked_events UNION ALL
               SELECT consumer, source, event_id FROM notify.parked_events) p""",
        "an event waits for something that already came",
    ),
]


async def audit(
    admin_dsn: str,
    *,
    timezone: str = "Asia/Shanghai",
    daily_cap: int = 50,
    capped_kinds: tuple[str, ...] = ("report", "rating"),
    settle_s: float = 60.0,
    settled: bool = False,
    bootstrap: str | None = None,
) -> list[Check]:
    """Run every check; `admin_dsn` must reach the system's database with rights on all schemas.

    Work in flight (a saga waiting for points' reply, an outbox row not yet relayed) is given `settle_s`
    seconds before it counts as a violation; pass 0 once traffic has stopped and everything has
    settled, and `settled=True` to add the checks that only hold then (projections agree, nothing
    parked). With `bootstrap`, the consumer groups' committed offsets are checked against the inboxes
    (never ahead of the effects) and, when settled, lag must be zero.
    """
    conn = await asyncpg.connect(admin_dsn)
    results: list[Check] = []
    try:
        present = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
        for name, sql, detail in POINTS_CHECKS:
            args = (timezone, daily_cap, list(capped_kinds)) if "$1" in sql else ()
            rows = await conn.fetch(sql, *args)
            results.append(Check(f"points: {name}", len(rows), detail, [str(r["example"]) for r in rows[:5]]))
        for name, sql, detail in REWARDS_CHECKS:
            rows = await conn.fetch(sql, *((float(settle_s),) if "$1" in sql else ()))
            results.append(Check(f"rewards: {name}", len(rows), detail, [str(r["example"]) for r in rows[:5]]))
        for service in SERVICES:
            if service not in present:
                results.append(Check(f"{service}: schema present", 1, "the schema is missing"))
                continue
            for name, sql, detail in KERNEL_CHECKS:
                grace = (float(settle_s),) if "$1" in sql else ()
                rows = await conn.fetch(sql.format(s=f'"{service}"'), *grace)
                results.append(Check(f"{service}: {name}", len(rows), detail, [str(r["example"]) for r in rows[:5]]))
        groups = [("reports", REPORTS_CHECKS), ("notify", NOTIFY_CHECKS)]
        if settled:
            groups.append(("system", SETTLED_CHECKS))
        for prefix, checks in groups:
            for name, sql, detail in checks:
                rows = await conn.fetch(sql)
                results.append(Check(f"{prefix}: {name}", len(rows), detail, [str(r["example"]) for r in rows[:5]]))
        if bootstrap:
            found = await consumer_offsets.offset_checks(conn, bootstrap, SUBSCRIPTIONS, settled=settled)
            results.extend(Check(name, len(examples), detail, examples[:5]) for name, detail, examples in found)
    finally:
        await conn.close()
    return results


@dataclass(frozen=True)
class Sent:
    """One inbound record as a producer sent it: its topic, CloudEvent identity and where it landed."""

    topic: str
    source: str
    event_id: str
    partition: int = -1
    offset: int = -1
    poison: bool = False  # expected in the DLQ, not applied


@dataclass
class HistoryVerdict:
    checked: int  # (event, consumer) pairs looked up
    lost: list[str]  # not in the consumer's inbox at all
    unfinished: list[str]  # in the inbox, but not in a final outcome (still parked)
    poison_applied: list[str]  # a poison record that was not dead-lettered

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unfinished or self.poison_applied)


async def check_history(admin_dsn: str, sent: list[Sent]) -> HistoryVerdict:
    """Jepsen's lost/unseen check: every sent event reached every consumer that reads its topic, and
    ended in one final outcome (applied, ignored with a reason, or dead-lettered).

    A poison record may not carry a usable identity: it is looked up by its position (the inbox keys
    unparseable records by it), and it must be dead-lettered.
    """
    verdict = HistoryVerdict(0, [], [], [])
    conn = await asyncpg.connect(admin_dsn)
    try:
        for service, topics in SUBSCRIPTIONS.items():
            mine = [e for e in sent if e.topic in topics]
            if not mine:
                continue
            rows = await conn.fetch(
                f"""SELECT s.i, i.outcome FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(source, event_id, i)
                    LEFT JOIN "{service}".inbox i ON i.consumer = $3 AND i.source = s.source
                                                 AND i.event_id = s.event_id""",
                [e.source for e in mine],
                [e.event_id for e in mine],
                service,
            )
            by_position = await conn.fetch(
                f"""SELECT s.i, i.outcome FROM unnest($1::text[], $2::int[], $3::bigint[]) WITH ORDINALITY
                         AS s(topic, kafka_partition, kafka_offset, i)
                    LEFT JOIN "{service}".inbox i ON i.consumer = $4 AND i.topic = s.topic
                         AND i.kafka_partition = s.kafka_partition AND i.kafka_offset = s.kafka_offset""",
                [e.topic for e in mine],
                [e.partition for e in mine],
                [e.offset for e in mine],
                service,
            )
            outcome = {int(r["i"]): r["outcome"] for r in rows}
            at_position = {int(r["i"]): r["outcome"] for r in by_position}
            for i, event in enumerate(mine, start=1):
                verdict.checked += 1
                found = outcome.get(i) or (at_position.get(i) if event.poison else None)
                name = f"{service}: {event.source}#{event.event_id}"
                if found is None:
                    verdict.lost.append(name)
                elif event.poison and found != "dead_lettered":
                    verdict.poison_applied.append(f"{name} ({found})")
                elif found not in ("applied", "ignored", "dead_lettered"):
                    verdict.unfinished.append(f"{name} ({found})")
    finally:
        await conn.close()
    return verdict


def render(results: list[Check]) -> str:
    lines = []
    for check in results:
        mark = "ok  " if check.ok else "FAIL"
        line = f"{mark} {check.name}"
        if not check.ok:
            line += f": {check.violations} ({check.detail}); e.g. {', '.join(check.examples)}"
        lines.append(line)
    failed = sum(1 for c in results if not c.ok)
    lines.append(f"verdict: {'PASS' if failed == 0 else 'FAIL'} ({len(results) - failed}/{len(results)} checks hold)")
    return "\n".join(lines)
