-- Department KPIs over [$1, $2), for the cases of district $3 (NULL: all): the raw figures of
-- kpis.tally(), one row per department with any. kpis.present()/report() turn rows into the contract's
-- fields (rates, averages, registered departments at zero). Definitions: the kpis module's docstring.
-- tests/integration/test_kpis_sql.py checks this query against kpis.tally() on random histories.
-- Only the cases with a step since $1 are read with their whole history (a transfer needs the step
-- before it, which may be older than the window). Every other case has had no step since $1, so its
-- state at $2 is its last step, which the case row holds (status, held_by): it can only be open and
-- overdue at the end. Read whole, a city's 75,000 cases over half a year took 0.5 s for a 30-day
-- window (bench CONSOLE, department KPIs); the history's changed_at indexes find the window's steps.
-- Each kind is joined to its own table by key (a UNION of both tables as one "cases" relation was
-- materialised whole and probed: 170 ms of the 365), the untouched open cases are anti-joined to the
-- touched ids, and "received" counts distinct (kind, case) on its own, not text keys sorted with every
-- fact: 288 -> 141 ms on the bench's data (EXPLAIN ANALYZE notes in docs/benchmarks/context.md).
WITH touched_reports AS (
    SELECT DISTINCT report_id FROM report_status_history WHERE changed_at >= $1
),
touched_needs AS (
    SELECT DISTINCT need_id FROM need_status_history WHERE changed_at >= $1
),
marked AS (
    SELECT 'report' AS kind, h.report_id AS case_id, h.id, h.status, h.held_by, h.changed_at, c.submitted_at, c.due_at,
           lag(h.held_by) OVER (PARTITION BY h.report_id ORDER BY h.id) AS held_before,
           max(h.id) FILTER (WHERE h.changed_at < $2) OVER (PARTITION BY h.report_id) AS last_before_end
    FROM touched_reports t
    JOIN reports c ON c.report_id = t.report_id
    JOIN report_status_history h ON h.report_id = t.report_id
    WHERE $3::text IS NULL OR c.district = $3
    UNION ALL
    SELECT 'need', h.need_id, h.id, h.status, h.held_by, h.changed_at, c.submitted_at, c.due_at,
           lag(h.held_by) OVER (PARTITION BY h.need_id ORDER BY h.id),
           max(h.id) FILTER (WHERE h.changed_at < $2) OVER (PARTITION BY h.need_id)
    FROM touched_needs t
    JOIN needs c ON c.need_id = t.need_id
    JOIN need_status_history h ON h.need_id = t.need_id
    WHERE $3::text IS NULL OR c.district = $3
),
received AS (
    SELECT department, count(*) AS received
    FROM (
        SELECT DISTINCT held_by AS department, kind, case_id FROM marked
        WHERE held_by IS NOT NULL AND held_by IS DISTINCT FROM held_before AND changed_at >= $1 AND changed_at < $2
    ) handed_to
    GROUP BY department
),
facts AS (
    SELECT held_by AS department, status AS what,
           (extract(epoch FROM changed_at) - extract(epoch FROM submitted_at)) / 3600.0 AS hours,
           changed_at <= due_at AS on_time
    FROM marked
    WHERE status IN ('resolved', 'rejected') AND held_by IS NOT NULL AND changed_at >= $1 AND changed_at < $2
    UNION ALL
    SELECT held_before, 'reopened', NULL, false
    FROM marked
    WHERE status = 'reopened' AND held_before IS NOT NULL AND changed_at >= $1 AND changed_at < $2
    UNION ALL
    SELECT held_by, 'overdue_open', NULL, false
    FROM marked
    WHERE id = last_before_end AND status NOT IN ('resolved', 'rejected') AND due_at < $2 AND held_by IS NOT NULL
    UNION ALL
    SELECT c.held_by, 'overdue_open', NULL, false
    FROM reports c
    WHERE c.status NOT IN ('resolved', 'rejected') AND c.due_at < $2 AND c.held_by IS NOT NULL
      AND c.submitted_at < $1 AND ($3::text IS NULL OR c.district = $3)
      AND NOT EXISTS (SELECT 1 FROM touched_reports t WHERE t.report_id = c.report_id)
    UNION ALL
    SELECT c.held_by, 'overdue_open', NULL, false
    FROM needs c
    WHERE c.status NOT IN ('resolved', 'rejected') AND c.due_at < $2 AND c.held_by IS NOT NULL
      AND c.submitted_at < $1 AND ($3::text IS NULL OR c.district = $3)
      AND NOT EXISTS (SELECT 1 FROM touched_needs t WHERE t.need_id = c.need_id)
),
per_department AS (
    SELECT department,
           count(*) FILTER (WHERE what = 'resolved') AS resolved,
           count(*) FILTER (WHERE what = 'rejected') AS rejected,
           count(*) FILTER (WHERE what = 'resolved' AND on_time) AS resolved_on_time,
           count(*) FILTER (WHERE what = 'overdue_open') AS overdue_open,
           count(*) FILTER (WHERE what = 'reopened') AS reopened,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) FILTER (WHERE what = 'resolved') AS median_hours
    FROM facts GROUP BY department
),
rated AS (
    SELECT r.department, count(*) AS ratings, sum(r.rating) AS rating_sum
    FROM case_ratings r
    WHERE r.rated_at >= $1 AND r.rated_at < $2 AND r.department IS NOT NULL
      AND ($3::text IS NULL OR CASE r.kind
            WHEN 'report' THEN EXISTS (SELECT 1 FROM reports c WHERE c.report_id = r.case_id AND c.district = $3)
            ELSE EXISTS (SELECT 1 FROM needs c WHERE c.need_id = r.case_id AND c.district = $3) END)
    GROUP BY r.department
)
SELECT department,
       coalesce(v.received, 0) AS received,
       coalesce(p.resolved, 0) AS resolved,
       coalesce(p.rejected, 0) AS rejected,
       coalesce(p.resolved_on_time, 0) AS resolved_on_time,
       coalesce(p.overdue_open, 0) AS overdue_open,
       coalesce(p.reopened, 0) AS reopened,
       coalesce(r.ratings, 0) AS ratings,
       coalesce(r.rating_sum, 0) AS rating_sum,
       p.median_hours
FROM per_department p FULL JOIN received v USING (department) FULL JOIN rated r USING (department)
ORDER BY department
