-- incomingReferrals pages through one organisation's received referrals, newest first.
CREATE INDEX IF NOT EXISTS referral_incoming ON referral (performer_organization_id, authored_on DESC, id DESC);
