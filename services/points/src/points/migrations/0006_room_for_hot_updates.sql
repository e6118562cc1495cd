-- Every credit updates a member's row in these tables (the day's capped total, the 365-day sums,
-- the balance, the level) right after it was inserted, and none of the columns it updates is
-- indexed: such an update can be HOT (no new index entries) only if the row's page has room for
-- the new version. At the default fillfactor (100) pages are filled by inserts, so almost every
-- update was a non-HOT one (8% HOT, docs/benchmarks/notes.md). A batch updates most rows of the
-- pages it just filled, so each new page keeps half its room for the new versions (70 measured 53%
-- HOT, 50 measured 98%): these tables take twice the space (new pages only) for ~2 index entries
-- less per credit and WAL with them.
-- (period_totals' updates change `earned`, which the leaderboard indexes: never HOT; not changed.)
ALTER TABLE daily_earnings SET (fillfactor = 50);
ALTER TABLE earned_by_day SET (fillfactor = 50);
ALTER TABLE member_balances SET (fillfactor = 50);
ALTER TABLE member_levels SET (fillfactor = 50);
