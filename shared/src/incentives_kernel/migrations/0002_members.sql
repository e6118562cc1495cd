-- The projection of members every service keeps (event-carried state), with only what services
-- decide on: no name, no phone. `as_of` is the CloudEvent time of the last applied change, so a
-- stale event delivered late never rolls the projection back.
CREATE TABLE members (
    member_id   text        PRIMARY KEY,
    district    text        NOT NULL,
    occupation  text        NOT NULL,
    locale      text        NOT NULL DEFAULT 'zh-CN',
    active      boolean     NOT NULL DEFAULT true,
    deactivation_reason text,
    registered_at timestamptz NOT NULL,
    as_of       timestamptz NOT NULL
);
CREATE INDEX members_district ON members (district);
