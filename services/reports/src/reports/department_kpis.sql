-- Department KPIs over [$1, $2), for the cases of district $3 (NULL: all): the raw figures of
-- kpis.tally(), one row per department with any. kpis.present()/report() turn rows into the contract's
-- fields (rates, averages, registered departments at zero). Definitions: the kpis module's docstring.
-- tests/integration/test_kpis_sql.py checks this query against kpis.tally() on random histories.
-- Only the cases with a step since $1 are read with their whole history (a transfer needs the step
-- before it, which may be older than the window). Every other case has had no step since $1, so its
-- state at $2 is its last step, which the case row holds (status, held_by): it can only be open and
-- overdue at the end. Read whole, a city's 75,000 cases over half a year took 0.5 s for a 30-day
-- window (bench CONSOLE, department KPIs); the history's changed_at indexes find the window's steps.
WITH cases AS (
    SELECT 'report' AS kind, report_id AS case_id, submitted_at, due_at, status, held_by FROM reports
    WHERE $3::text IS NULL OR district = $3
    UNION ALL
    SELECT 'need', need_id, submitted_at, due_at, status, held_by FROM needs
    WHERE $3::text IS NULL OR district = $3
),
touched AS (
    SELECT DISTINCT 'report' AS kind, report_id AS case_id FROM report_status_history WHERE changed_at >= $1
    UNION ALL
    SELECT DISTINCT 'need', need_id FROM need_status_history WHERE changed_at >= $1
),
steps AS (
    SELECT 'report' AS kind, h.report_id AS case_id, h.id, h.status, h.held_by, h.changed_at
    FROM report_status_history h JOIN touched t ON t.kind = 'report' AND t.case_id = h.report_id
    UNION ALL
    SELECT 'need', h.need_id, h.id, h.status, h.held_by, h.changed_at
    FROM need_status_history h JOIN touched t ON t.kind = 'need' AND t.case_id = h.need_id
),
marked AS (
    SELECT s.kind, s.case_id, s.id, s.status, s.held_by, s.changed_at, c.submitted_at, c.due_at,
           lag(s.held_by) OVER (PARTITION BY s.kind, s.case_id ORDER BY s.id) AS held_before
    FROM steps s JOIN cases c USING (kind, case_id)
),
facts AS (
    SELECT held_by AS department, 'received' AS what, kind || ':' || case_id AS case_key,
           NULL::double precision AS hours, false AS on_time
    FROM marked
    WHERE held_by IS NOT NULL AND held_by IS DISTINCT FROM held_before AND changed_at >= $1 AND changed_at < $2
    UNION ALL
    SELECT held_by, status, kind || ':' || case_id,
           (extract(epoch FROM changed_at) - extract(epoch FROM submitted_at)) / 3600.0, changed_at <= due_at
    FROM marked
    WHERE status IN ('resolved', 'rejected') AND held_by IS NOT NULL AND changed_at >= $1 AND changed_at < $2
    UNION ALL
    SELECT held_before, 'reopened', kind || ':' || case_id, NULL, false
    FROM marked
    WHERE status = 'reopened' AND held_before IS NOT NULL AND changed_at >= $1 AND changed_at < $2
    UNION ALL
    SELECT held_by, 'overdue_open', kind || ':' || case_id, NULL, false
    FROM (
        SELECT DISTINCT ON (kind, case_id) kind, case_id, status, held_by, due_at
        FROM marked WHERE changed_at < $2
        ORDER BY kind, case_id, id DESC
    ) state_at_end
    WHERE status NOT IN ('resolved', 'rejected') AND due_at < $2 AND held_by IS NOT NULL
    UNION ALL
    SELECT c.held_by, 'overdue_open', c.kind || ':' || c.case_id, NULL, false
    FROM cases c
    WHERE c.status NOT IN ('resolved', 'rejected') AND c.due_at < $2 AND c.held_by IS NOT NULL
      AND c.submitted_at < $1 AND NOT EXISTS (SELECT 1 FROM touched t WHERE t.kind = c.kind AND t.case_id = c.case_id)
),
per_department AS (
    SELECT department,
           count(DISTINCT case_key) FILTER (WHERE what = 'received') AS received,
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
    FROM case_ratings r JOIN cases c USING (kind, case_id)
    WHERE r.rated_at >= $1 AND r.rated_at < $2 AND r.department IS NOT NULL
    GROUP BY r.department
)
SELECT department,
       coalesce(p.received, 0) AS received,
       coalesce(p.resolved, 0) AS resolved,
       coalesce(p.rejected, 0) AS rejected,
       coalesce(p.resolved_on_time, 0) AS resolved_on_time,
       coalesce(p.overdue_open, 0) AS overdue_open,
       coalesce(p.reopened, 0) AS reopened,
       coalesce(r.ratings, 0) AS ratings,
       coalesce(r.rating_sum, 0) AS rating_sum,
       p.median_hours
FROM per_department p FULL JOIN rated r USING (department)
ORDER BY department
